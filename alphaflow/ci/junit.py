"""JUnit XML for the gate (``--junit FILE``), written with ``junitparser``.

One ``testsuite`` per check; one ``testcase`` per unit (problem x sample, eval item, flow run), with
a ``failure`` carrying the verdict or score and the first failing test; one more ``testcase`` per
requirement (class ``CHECK.requirements``) so a threshold or a regression shows up as a failure too.
"""

from __future__ import annotations

from pathlib import Path

from alphaflow.ci.gate import GateResult, fmt


def write_junit(result: GateResult, path: str | Path) -> Path:
    """Write the gate's JUnit XML to ``path`` (parent folders created); returns the path."""
    from junitparser import Error, Failure, JUnitXml, TestCase, TestSuite

    xml = JUnitXml("alphaflow ci gate")
    for verdict in result.checks:
        run = verdict.run
        suite = TestSuite(run.name)
        suite.add_property("kind", run.kind)
        suite.add_property("status", verdict.status)
        suite.add_property("run_dir", str(run.run_dir))
        for unit in run.units:
            name = unit.name if verdict.repeat == 1 else f"{unit.name} (repeat {unit.repetition + 1})"
            case = TestCase(name, classname=run.name, time=round(unit.seconds, 3))
            if not unit.passed:
                failure = Failure(unit.message, "unit")
                failure.text = unit.details or unit.message
                case.result = [failure]
            elif unit.message:
                case.system_out = unit.message
            suite.add_testcase(case)
        for requirement in verdict.requirements:
            case = TestCase(requirement.requirement.text, classname=f"{run.name}.requirements")
            problems = []
            if requirement.holds_in < verdict.needed:
                problems.append(
                    f"{requirement.requirement.text} not met: {fmt(requirement.value)} "
                    f"(held in {requirement.holds_in} of {verdict.repeat} runs)"
                )
            if requirement.regressed:
                problems.append(
                    f"regression: {fmt(requirement.baseline)} -> {fmt(requirement.value)} "
                    f"(max_drop {verdict.max_drop:g})"
                )
            if problems:
                failure = Failure(problems[0], "requirement" if not requirement.regressed else "regression")
                failure.text = "\n".join(problems)
                case.result = [failure]
            else:
                case.system_out = f"{requirement.requirement.text}: {fmt(requirement.value)}"
            suite.add_testcase(case)
        if run.error:
            case = TestCase("check run", classname=run.name)
            error = Error(run.error.splitlines()[0][:500], "error")
            error.text = run.error
            case.result = [error]
            suite.add_testcase(case)
        suite.update_statistics()
        xml.add_testsuite(suite)
    xml.update_statistics()
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    xml.write(str(target), pretty=True)
    return target
