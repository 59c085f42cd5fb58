"""Static reference data for synthetic transactions: money, cities, merchant codes and names."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

Continent = Literal["africa", "asia", "europe", "north_america", "south_america", "oceania"]
RiskLevel = Literal["low", "medium", "high"]

FX_REFERENCE_DATE = "2025-01-02"
"""Date of the FX reference values below (approximate mid-market, rounded)."""

EARTH_RADIUS_KM = 6371.0088


@dataclass(frozen=True, slots=True)
class Currency:
    """An ISO-4217 currency, its minor units and a fixed reference rate to USD.

    ``usd_per_unit`` values are fixed reference rates, approximately the mid-market
    rates of 2 January 2025 (``FX_REFERENCE_DATE``), rounded. They exist so that
    business metrics (fraud amounts, basket values) can be summed across currencies
    reproducibly; they are for reporting only and must never be used to price anything.
    """

    code: str
    minor_units: int
    usd_per_unit: float

    @property
    def units_per_usd(self) -> float:
        return 1.0 / self.usd_per_unit

    def to_usd(self, amount: float) -> float:
        return amount * self.usd_per_unit


CURRENCIES: dict[str, Currency] = {
    currency.code: currency
    for currency in (
        Currency("USD", 2, 1.0),
        Currency("EUR", 2, 1.035),
        Currency("GBP", 2, 1.245),
        Currency("CHF", 2, 1.100),
        Currency("SEK", 2, 0.0903),
        Currency("NOK", 2, 0.0878),
        Currency("DKK", 2, 0.1388),
        Currency("PLN", 2, 0.2420),
        Currency("CZK", 2, 0.0411),
        Currency("TRY", 2, 0.0283),
        Currency("ISK", 0, 0.00718),
        Currency("CAD", 2, 0.6950),
        Currency("MXN", 2, 0.0485),
        Currency("BRL", 2, 0.1620),
        Currency("ARS", 2, 0.000970),
        Currency("CLP", 0, 0.001005),
        Currency("COP", 2, 0.000227),
        Currency("PEN", 2, 0.2660),
        Currency("JPY", 0, 0.00636),
        Currency("KRW", 0, 0.000680),
        Currency("CNY", 2, 0.1370),
        Currency("HKD", 2, 0.1287),
        Currency("TWD", 2, 0.0305),
        Currency("SGD", 2, 0.7320),
        Currency("INR", 2, 0.01167),
        Currency("THB", 2, 0.0292),
        Currency("IDR", 2, 0.0000617),
        Currency("VND", 0, 0.0000393),
        Currency("PHP", 2, 0.0172),
        Currency("AED", 2, 0.2723),
        Currency("SAR", 2, 0.2662),
        Currency("ILS", 2, 0.2740),
        Currency("BHD", 3, 2.6596),
        Currency("KWD", 3, 3.2430),
        Currency("JOD", 3, 1.4104),
        Currency("OMR", 3, 2.5974),
        Currency("TND", 3, 0.3125),
        Currency("ZAR", 2, 0.0530),
        Currency("NGN", 2, 0.000650),
        Currency("KES", 2, 0.00773),
        Currency("EGP", 2, 0.0197),
        Currency("MAD", 2, 0.0990),
        Currency("AUD", 2, 0.6200),
        Currency("NZD", 2, 0.5600),
    )
}


@dataclass(frozen=True, slots=True)
class City:
    """A real city: where cardholders live, merchants trade and transactions happen.

    ``utc_offset_hours`` is the standard-time offset (daylight saving ignored).
    """

    code: str
    name: str
    country: str
    currency: str
    lat: float
    lon: float
    utc_offset_hours: float
    continent: Continent


# code, name, country, currency, lat, lon, UTC offset (hours)
CityRow = tuple[str, str, str, str, float, float, float]


def _cities_of(continent: Continent, *rows: CityRow) -> tuple[City, ...]:
    return tuple(City(*row, continent) for row in rows)


CITIES: tuple[City, ...] = (
    *_cities_of(
        "europe",
        ("LON", "London", "GB", "GBP", 51.5074, -0.1278, 0),
        ("PAR", "Paris", "FR", "EUR", 48.8566, 2.3522, 1),
        ("BER", "Berlin", "DE", "EUR", 52.5200, 13.4050, 1),
        ("MAD", "Madrid", "ES", "EUR", 40.4168, -3.7038, 1),
        ("ROM", "Rome", "IT", "EUR", 41.9028, 12.4964, 1),
        ("AMS", "Amsterdam", "NL", "EUR", 52.3676, 4.9041, 1),
        ("ZRH", "Zürich", "CH", "CHF", 47.3769, 8.5417, 1),
        ("STO", "Stockholm", "SE", "SEK", 59.3293, 18.0686, 1),
        ("OSL", "Oslo", "NO", "NOK", 59.9139, 10.7522, 1),
        ("CPH", "Copenhagen", "DK", "DKK", 55.6761, 12.5683, 1),
        ("WAW", "Warsaw", "PL", "PLN", 52.2297, 21.0122, 1),
        ("PRG", "Prague", "CZ", "CZK", 50.0755, 14.4378, 1),
        ("IST", "Istanbul", "TR", "TRY", 41.0082, 28.9784, 3),
        ("REK", "Reykjavík", "IS", "ISK", 64.1466, -21.9426, 0),
    ),
    *_cities_of(
        "north_america",
        ("NYC", "New York", "US", "USD", 40.7128, -74.0060, -5),
        ("LAX", "Los Angeles", "US", "USD", 34.0522, -118.2437, -8),
        ("CHI", "Chicago", "US", "USD", 41.8781, -87.6298, -6),
        ("MIA", "Miami", "US", "USD", 25.7617, -80.1918, -5),
        ("HNL", "Honolulu", "US", "USD", 21.3069, -157.8583, -10),
        ("YTO", "Toronto", "CA", "CAD", 43.6532, -79.3832, -5),
        ("YVR", "Vancouver", "CA", "CAD", 49.2827, -123.1207, -8),
        ("MEX", "Mexico City", "MX", "MXN", 19.4326, -99.1332, -6),
    ),
    *_cities_of(
        "south_america",
        ("SAO", "São Paulo", "BR", "BRL", -23.5505, -46.6333, -3),
        ("RIO", "Rio de Janeiro", "BR", "BRL", -22.9068, -43.1729, -3),
        ("BUE", "Buenos Aires", "AR", "ARS", -34.6037, -58.3816, -3),
        ("SCL", "Santiago", "CL", "CLP", -33.4489, -70.6693, -4),
        ("BOG", "Bogotá", "CO", "COP", 4.7110, -74.0721, -5),
        ("LIM", "Lima", "PE", "PEN", -12.0464, -77.0428, -5),
    ),
    *_cities_of(
        "asia",
        ("TYO", "Tokyo", "JP", "JPY", 35.6762, 139.6503, 9),
        ("OSA", "Osaka", "JP", "JPY", 34.6937, 135.5023, 9),
        ("SEL", "Seoul", "KR", "KRW", 37.5665, 126.9780, 9),
        ("PUS", "Busan", "KR", "KRW", 35.1796, 129.0756, 9),
        ("SHA", "Shanghai", "CN", "CNY", 31.2304, 121.4737, 8),
        ("BJS", "Beijing", "CN", "CNY", 39.9042, 116.4074, 8),
        ("HKG", "Hong Kong", "HK", "HKD", 22.3193, 114.1694, 8),
        ("TPE", "Taipei", "TW", "TWD", 25.0330, 121.5654, 8),
        ("SIN", "Singapore", "SG", "SGD", 1.3521, 103.8198, 8),
        ("BOM", "Mumbai", "IN", "INR", 19.0760, 72.8777, 5.5),
        ("DEL", "Delhi", "IN", "INR", 28.7041, 77.1025, 5.5),
        ("BKK", "Bangkok", "TH", "THB", 13.7563, 100.5018, 7),
        ("JKT", "Jakarta", "ID", "IDR", -6.2088, 106.8456, 7),
        ("SGN", "Ho Chi Minh City", "VN", "VND", 10.8231, 106.6297, 7),
        ("MNL", "Manila", "PH", "PHP", 14.5995, 120.9842, 8),
        ("DXB", "Dubai", "AE", "AED", 25.2048, 55.2708, 4),
        ("RUH", "Riyadh", "SA", "SAR", 24.7136, 46.6753, 3),
        ("KWI", "Kuwait City", "KW", "KWD", 29.3759, 47.9774, 3),
        ("BAH", "Manama", "BH", "BHD", 26.2285, 50.5860, 3),
        ("AMM", "Amman", "JO", "JOD", 31.9454, 35.9284, 3),
        ("MCT", "Muscat", "OM", "OMR", 23.5880, 58.3829, 4),
        ("TLV", "Tel Aviv", "IL", "ILS", 32.0853, 34.7818, 2),
    ),
    *_cities_of(
        "africa",
        ("JNB", "Johannesburg", "ZA", "ZAR", -26.2041, 28.0473, 2),
        ("CPT", "Cape Town", "ZA", "ZAR", -33.9249, 18.4241, 2),
        ("LOS", "Lagos", "NG", "NGN", 6.5244, 3.3792, 1),
        ("NBO", "Nairobi", "KE", "KES", -1.2921, 36.8219, 3),
        ("CAI", "Cairo", "EG", "EGP", 30.0444, 31.2357, 2),
        ("CAS", "Casablanca", "MA", "MAD", 33.5731, -7.5898, 1),
        ("TUN", "Tunis", "TN", "TND", 36.8065, 10.1815, 1),
    ),
    *_cities_of(
        "oceania",
        ("SYD", "Sydney", "AU", "AUD", -33.8688, 151.2093, 10),
        ("MEL", "Melbourne", "AU", "AUD", -37.8136, 144.9631, 10),
        ("PER", "Perth", "AU", "AUD", -31.9505, 115.8605, 8),
        ("AKL", "Auckland", "NZ", "NZD", -36.8485, 174.7633, 12),
    ),
)


# Merchant category codes (ISO 18245) by the names the generator's episodes use.
MCC_GROCERY = "5411"
MCC_FUEL = "5541"
MCC_RESTAURANTS = "5812"
MCC_FAST_FOOD = "5814"
MCC_DEPARTMENT_STORES = "5311"
MCC_CLOTHING = "5651"
MCC_PHARMACY = "5912"
MCC_HOME_IMPROVEMENT = "5200"
MCC_BOOKS = "5942"
MCC_TRANSIT = "4111"
MCC_TAXI_RIDESHARE = "4121"
MCC_DIGITAL_GOODS = "5818"
MCC_STREAMING = "4899"
MCC_CHARITIES = "8398"
MCC_HOTELS = "7011"
MCC_CAR_RENTAL = "7512"
MCC_AIRLINES = "4511"
MCC_ELECTRONICS = "5732"
MCC_JEWELRY = "5944"
MCC_ATM_CASH = "6011"
MCC_CAR_DEALERS = "5511"
MCC_GAMBLING = "7995"
MCC_QUASI_CASH_CRYPTO = "6051"
MCC_MONEY_TRANSFER = "4829"


@dataclass(frozen=True, slots=True)
class MerchantCategory:
    """A merchant category code with its risk level and typical ticket size.

    Amounts follow a lognormal with median ``median_usd`` and shape ``sigma``.
    ``everyday_weight`` is the share of ordinary cardholder spend (0: never routine);
    ``online_share`` is the fraction of that category's payments that are card-not-present.
    """

    mcc: str
    category: str
    risk: RiskLevel
    median_usd: float
    sigma: float
    everyday_weight: float
    online_share: float


MERCHANT_CATEGORIES: tuple[MerchantCategory, ...] = (
    MerchantCategory(MCC_GROCERY, "grocery", "low", 40.0, 0.7, 22.0, 0.10),
    MerchantCategory(MCC_FUEL, "fuel", "low", 55.0, 0.4, 8.0, 0.0),
    MerchantCategory(MCC_RESTAURANTS, "restaurants", "low", 35.0, 0.6, 12.0, 0.05),
    MerchantCategory(MCC_FAST_FOOD, "fast_food", "low", 12.0, 0.5, 12.0, 0.10),
    MerchantCategory(MCC_DEPARTMENT_STORES, "department_stores", "low", 70.0, 0.8, 5.0, 0.25),
    MerchantCategory(MCC_CLOTHING, "clothing", "low", 80.0, 0.7, 5.0, 0.40),
    MerchantCategory(MCC_PHARMACY, "pharmacy", "low", 25.0, 0.6, 5.0, 0.05),
    MerchantCategory(MCC_HOME_IMPROVEMENT, "home_improvement", "low", 120.0, 0.8, 2.0, 0.30),
    MerchantCategory(MCC_BOOKS, "books", "low", 25.0, 0.5, 2.0, 0.50),
    MerchantCategory(MCC_TRANSIT, "transit", "low", 4.0, 0.5, 6.0, 0.0),
    MerchantCategory(MCC_TAXI_RIDESHARE, "taxi_rideshare", "low", 20.0, 0.6, 6.0, 0.70),
    MerchantCategory(MCC_DIGITAL_GOODS, "digital_goods", "low", 10.0, 0.8, 5.0, 1.0),
    MerchantCategory(MCC_STREAMING, "streaming", "low", 15.0, 0.3, 3.0, 1.0),
    MerchantCategory(MCC_CHARITIES, "charities", "low", 25.0, 0.8, 0.5, 0.90),
    MerchantCategory(MCC_HOTELS, "hotels", "low", 250.0, 0.7, 2.0, 0.50),
    MerchantCategory(MCC_CAR_RENTAL, "car_rental", "low", 300.0, 0.6, 0.5, 0.60),
    MerchantCategory(MCC_AIRLINES, "airlines", "medium", 600.0, 0.6, 1.0, 1.0),
    MerchantCategory(MCC_ELECTRONICS, "electronics", "medium", 400.0, 0.8, 2.0, 0.50),
    MerchantCategory(MCC_JEWELRY, "jewelry", "medium", 900.0, 0.9, 0.3, 0.30),
    MerchantCategory(MCC_ATM_CASH, "atm_cash", "medium", 150.0, 0.6, 3.0, 0.0),
    MerchantCategory(MCC_CAR_DEALERS, "car_dealers", "medium", 15000.0, 0.6, 0.0, 0.20),
    MerchantCategory(MCC_GAMBLING, "gambling", "high", 200.0, 1.0, 0.3, 0.90),
    MerchantCategory(MCC_QUASI_CASH_CRYPTO, "quasi_cash_crypto", "high", 500.0, 1.0, 0.2, 1.0),
    MerchantCategory(MCC_MONEY_TRANSFER, "money_transfer", "high", 300.0, 0.9, 0.3, 0.80),
)

MCC_BY_CODE: dict[str, MerchantCategory] = {mc.mcc: mc for mc in MERCHANT_CATEGORIES}

# A few trading names per category; every city has one merchant of each.
MERCHANT_BRANDS: dict[str, tuple[str, ...]] = {
    "grocery": ("FreshMart", "Green Basket", "Corner Grocer", "Daily Harvest"),
    "fuel": ("PetroLink", "Northstar Fuel", "QuickFill"),
    "restaurants": ("Olive & Thyme", "The Copper Pot", "Lantern House", "Bistro Nord"),
    "fast_food": ("Burger Yard", "Noodle Box", "Taco Rápido", "Bean There Coffee"),
    "department_stores": ("Grand Galleria", "Mercer & Lowe"),
    "clothing": ("Threadline", "Urban Loom", "Coastline Apparel"),
    "pharmacy": ("CarePlus Pharmacy", "Green Cross Chemist"),
    "home_improvement": ("BuildRight", "Hammer & Hinge"),
    "books": ("Paper Lantern Books", "Chapter One"),
    "transit": ("Metro Transit", "City Rail"),
    "taxi_rideshare": ("RideNow", "City Cabs", "Zoom Rides"),
    "digital_goods": ("AppVault", "PixelPlay Store", "CloudTunes"),
    "streaming": ("StreamBox", "Flicks+", "AudioWave"),
    "charities": ("Open Hands Foundation", "Clean Water Trust"),
    "hotels": ("Harbour View Hotel", "Grand Meridian", "Nomad Suites"),
    "car_rental": ("DriveAway Rentals", "Velocity Car Hire"),
    "airlines": ("SkyBridge Airways", "Aurora Air", "Meridian Airlines"),
    "electronics": ("Volt Electronics", "ByteStore", "Circuit City Plus"),
    "jewelry": ("Aurum Jewellers", "Lustre & Co"),
    "atm_cash": ("Metro Bank ATM", "Union Savings ATM", "Citywide ATM"),
    "car_dealers": ("Summit Motors", "Prestige Autohaus"),
    "gambling": ("Lucky Star Casino", "BetPoint Online", "Royal Spin"),
    "quasi_cash_crypto": ("CoinHarbor Exchange", "BitBridge", "CryptoMint"),
    "money_transfer": ("SwiftSend Remit", "GlobalPay Transfer", "Courier Cash"),
}

# Names in many scripts, combining marks and emoji: the edge case unicode_merchant_name.
UNICODE_MERCHANT_NAMES: tuple[str, ...] = (
    "Café Müller & Söhne",
    "東京ラーメン 一蘭",
    "Ресторан «Пушкинъ»",
    "مطعم الشرق",
    "קפה הלל",
    "서울 김밥천국",
    "ตลาดสด สามย่าน",
    "Łódź Kebab Żółw",
    "Ñandú Parrilla",
    "🍣 Sushi Zanmai",
    "👩\u200d🍳 Chef's Table",
    "Cafe\u0301 Noe\u0308l",
    "Ελληνική Ταβέρνα",
    "Boulangerie “L’Épi d’Or”",
)


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in kilometres between two points given in degrees."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    half_dphi = (phi2 - phi1) / 2.0
    half_dlambda = math.radians(lon2 - lon1) / 2.0
    a = math.sin(half_dphi) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(half_dlambda) ** 2
    return 2.0 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def city_distance_km(a: City, b: City) -> float:
    return haversine_km(a.lat, a.lon, b.lat, b.lon)


def to_usd(amount: float, currency: str) -> float:
    """Convert an amount in ``currency`` to USD with the fixed reference rates."""
    return CURRENCIES[currency].to_usd(amount)
