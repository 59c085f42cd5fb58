"""junit.xml: one testsuite per run, a testcase per criterion and per measured fault, plus
"counts reconcile" and "run completed", so CI shows a run's verdict like any test result."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

from stresslab.outputs.checks import (
    criterion_name,
    fault_why,
    reconcile_counts,
    reconcile_failures,
)
from stresslab.outputs.format import finite, format_number, format_unit, whole
from stresslab.outputs.reading import SummaryLike, records, section, summary_dict

_XML_INVALID = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_PROPERTIES = ("run_id", "target", "status", "seed", "workers", "time_scale", "load_scale")


def _xml_text(value: Any) -> str:
    return _XML_INVALID.sub("\ufffd", str(value))


def _add_case(
    suite: ET.Element, classname: str, name: str, failure: str | None, detail: str = ""
) -> None:
    case = ET.SubElement(suite, "testcase", classname=classname, name=_xml_text(name), time="0")
    if failure is not None:
        node = ET.SubElement(case, "failure", message=_xml_text(failure), type="AssertionError")
        node.text = _xml_text(detail or failure)


def _add_fault_case(
    suite: ET.Element, classname: str, fault: Mapping[str, Any], index: int
) -> None:
    """One case per measured fault: it recovered, lost nothing and met its own criteria."""
    if "passed" not in fault:
        return
    number = whole(fault.get("number")) or index + 1
    name = f"fault {number} ({fault.get('label') or fault.get('type') or 'fault'}) recovers"
    detail = (f"detected after {format_unit(fault.get('time_to_detect_s'), 's')}, recovered "
              f"after {format_unit(fault.get('time_to_recover_s'), 's')}, affected "
              f"{format_number(fault.get('affected'))}, lost {format_number(fault.get('lost'))}")
    if fault.get("passed") is None:
        case = ET.SubElement(suite, "testcase", classname=classname, name=_xml_text(name),
                             time="0")
        ET.SubElement(case, "skipped", message=_xml_text(
            f"not injected: {fault.get('status') or 'unknown'}"))
        return
    failure = None if fault.get("passed") is True else fault_why(fault) or "failed"
    _add_case(suite, classname, name, failure, detail)


def _add_properties(suite: ET.Element, summary: Mapping[str, Any]) -> None:
    properties = ET.SubElement(suite, "properties")
    for key in _PROPERTIES:
        if summary.get(key) is not None:
            ET.SubElement(properties, "property", name=key, value=_xml_text(summary[key]))


def render_junit_xml(run_summary: SummaryLike) -> str:
    """One testsuite: a testcase per criterion, plus "counts reconcile" and "run completed"."""
    summary = summary_dict(run_summary)
    classname = _xml_text(f"stresslab.{summary.get('scenario') or 'unnamed'}")
    duration = finite(summary.get("duration_s")) or 0.0
    suite = ET.Element("testsuite", name=classname, time=f"{duration:.3f}")
    if summary.get("started_at"):
        suite.set("timestamp", _xml_text(summary["started_at"]))
    _add_properties(suite, summary)
    for criterion in records(summary, "criteria"):
        expr = criterion.get("expr", "?")
        failure = None
        if criterion.get("passed") is not True:
            failure = f"observed {format_number(criterion.get('observed'))}, expected {expr}"
        _add_case(suite, classname, criterion_name(criterion), failure)
    for index, fault in enumerate(records(summary, "faults")):
        _add_fault_case(suite, classname, fault, index)
    problems = reconcile_failures(reconcile_counts(section(summary, "counts")))
    failure = "counts do not reconcile" if problems else None
    _add_case(suite, classname, "counts reconcile", failure, "\n".join(problems))
    status = summary.get("status")
    failure = None if status == "completed" else f"run status is {status or 'unknown'}"
    _add_case(suite, classname, "run completed", failure)
    cases = suite.findall("testcase")
    suite.set("tests", str(len(cases)))
    suite.set("failures", str(sum(1 for case in cases if case.find("failure") is not None)))
    suite.set("errors", "0")
    suite.set("skipped", str(sum(1 for case in cases if case.find("skipped") is not None)))
    ET.indent(suite)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suite, "unicode") + "\n"
