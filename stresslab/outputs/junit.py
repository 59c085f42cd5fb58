"""junit.xml: one testsuite per run, a testcase per criterion and per measured fault, plus
"counts reconcile" and "run completed", and (runs with --baseline) one per regression rule, so
CI shows a run's verdict like any test result."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

from stresslab.judgement.summary_model import FaultEntry, RegressionCheck, RunSummary
from stresslab.outputs.checks import (
    criterion_name,
    fault_why,
    reconcile_counts,
    reconcile_failures,
)
from stresslab.outputs.format import finite, format_number, format_unit, whole
from stresslab.outputs.reading import SummaryLike, as_run_summary

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
    suite: ET.Element, classname: str, fault: FaultEntry, index: int
) -> None:
    """One case per measured fault: it recovered, lost nothing and met its own criteria."""
    if "passed" not in fault.model_fields_set:
        return
    number = whole(fault.number) or index + 1
    name = f"fault {number} ({fault.label or fault.type or 'fault'}) recovers"
    detail = (f"detected after {format_unit(fault.time_to_detect_s, 's')}, recovered "
              f"after {format_unit(fault.time_to_recover_s, 's')}, affected "
              f"{format_number(fault.affected)}, lost {format_number(fault.lost)}")
    if fault.passed is None:
        case = ET.SubElement(suite, "testcase", classname=classname, name=_xml_text(name),
                             time="0")
        ET.SubElement(case, "skipped", message=_xml_text(
            f"not injected: {fault.status or 'unknown'}"))
        return
    failure = None if fault.passed is True else fault_why(fault) or "failed"
    _add_case(suite, classname, name, failure, detail)


def _add_regression_cases(suite: ET.Element, check: RegressionCheck | None) -> None:
    """A case per regression rule judged against the baseline (classname `regressions`); one
    skipped case when --baseline found no run to judge against."""
    if check is None:
        return
    if not check.judged:
        case = ET.SubElement(suite, "testcase", classname="regressions",
                             name="regressions against a baseline", time="0")
        ET.SubElement(case, "skipped", message=_xml_text(check.note))
        return
    for rule in check.rules:
        failure = None
        if rule.broken:
            delta = (None if rule.baseline is None or rule.candidate is None
                     else rule.candidate - rule.baseline)
            failure = (f"{rule.metric}: baseline {format_number(rule.baseline)} "
                       f"(run {check.baseline_run_id}), candidate "
                       f"{format_number(rule.candidate)}, delta {format_number(delta)}: "
                       f"{rule.reason}; rule {rule.rule}")
        _add_case(suite, "regressions", rule.rule, failure)


def _add_properties(suite: ET.Element, summary: RunSummary) -> None:
    properties = ET.SubElement(suite, "properties")
    for key in _PROPERTIES:
        value = getattr(summary, key)
        if value is not None:
            ET.SubElement(properties, "property", name=key, value=_xml_text(value))


def render_junit_xml(run_summary: SummaryLike) -> str:
    """One testsuite: a testcase per criterion, plus "counts reconcile" and "run completed"."""
    summary = as_run_summary(run_summary)
    classname = _xml_text(f"stresslab.{summary.scenario or 'unnamed'}")
    duration = finite(summary.duration_s) or 0.0
    suite = ET.Element("testsuite", name=classname, time=f"{duration:.3f}")
    if summary.started_at:
        suite.set("timestamp", _xml_text(summary.started_at))
    _add_properties(suite, summary)
    for criterion in summary.criteria:
        failure = None
        if criterion.passed is not True:
            failure = f"observed {format_number(criterion.observed)}, expected {criterion.expr}"
        _add_case(suite, classname, criterion_name(criterion), failure)
    for index, fault in enumerate(summary.faults):
        _add_fault_case(suite, classname, fault, index)
    problems = reconcile_failures(reconcile_counts(summary.counts))
    failure = "counts do not reconcile" if problems else None
    _add_case(suite, classname, "counts reconcile", failure, "\n".join(problems))
    status = summary.status
    failure = None if status == "completed" else f"run status is {status or 'unknown'}"
    _add_case(suite, classname, "run completed", failure)
    _add_regression_cases(suite, summary.regression)
    cases = suite.findall("testcase")
    suite.set("tests", str(len(cases)))
    suite.set("failures", str(sum(1 for case in cases if case.find("failure") is not None)))
    suite.set("errors", "0")
    suite.set("skipped", str(sum(1 for case in cases if case.find("skipped") is not None)))
    ET.indent(suite)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suite, "unicode") + "\n"
