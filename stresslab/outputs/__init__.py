"""What a run leaves behind: report.html, capacity.html, CSV and JUnit."""
