"""CPU time per evaluation of the stock durable Host path and the service's direct path, same run.

    .venv/bin/python -m bench.engine_cost [--cases 1000] [--seed N] [--repeats 5]

CPU time (time.process_time), not wall time: the machine is shared. Each figure is the best of
`repeats` passes over the same varied patient contexts, and both paths must give the same firings
(and the same evaluations) on every case before any figure is printed.
"""
import argparse
import time

from bench.cases import make_cases
from cdss.config import ROOT
from cdss.engine import HostRuleEngine
from cdss.evaluation import Evaluator
from cdss.facts import build_facts
from cdss.loader import load_rules
from schemas.context import PatientContextSchema


def cpu_per_call(function, inputs, repeats):
    """Best-of-`repeats` CPU seconds per call of function over inputs."""
    best = float("inf")
    for _ in range(repeats):
        started = time.process_time()
        for item in inputs:
            function(item)
        best = min(best, (time.process_time() - started) / len(inputs))
    return best


def signature(firings):
    """Firings as (rule id, {alias: fid}) in order."""
    return [(firing.rule_id, {alias: fact["fid"] for alias, fact in firing.matched.items()}) for firing in firings]


def measure(count=1000, repeats=5, seed=None):
    """{label: microseconds of CPU per call}, after checking both paths agree on every case."""
    knowledge = load_rules(ROOT / "rules")
    direct = Evaluator(knowledge, new_id=lambda: "bench")
    host = Evaluator(knowledge, new_id=lambda: "bench")
    host.engine = HostRuleEngine(direct.engine.definitions, direct.engine.consequences)
    schema = PatientContextSchema()
    cases = make_cases(count, knowledge=knowledge, **({} if seed is None else {"seed": seed}))
    contexts = [schema.load(case) for case in cases]
    facts = [build_facts(context, direct.vocabulary).facts for context in contexts]
    for fact_list, context in zip(facts, contexts):
        if signature(direct.engine.run(fact_list)) != signature(host.engine.run(fact_list)):
            raise AssertionError("the two engine paths fired differently")
        if direct.evaluate(context) != host.evaluate(context):
            raise AssertionError("the two engine paths evaluated differently")
    micro = {
        "engine run, stock Host path": cpu_per_call(host.engine.run, facts, repeats),
        "engine run, direct path": cpu_per_call(direct.engine.run, facts, repeats),
        "evaluate, stock Host path": cpu_per_call(host.evaluate, contexts, repeats),
        "evaluate, direct path": cpu_per_call(direct.evaluate, contexts, repeats),
        "schema load": cpu_per_call(schema.load, cases, repeats),
        "build_facts": cpu_per_call(lambda context: build_facts(context, direct.vocabulary), contexts, repeats),
    }
    return {label: seconds * 1e6 for label, seconds in micro.items()}


def report(costs):
    """The costs and the before/after ratios, as printed lines."""
    lines = [f"{label:34}{value:>9.0f} us CPU" for label, value in costs.items()]
    lines.append(f"{'engine run: stock / direct':34}{costs['engine run, stock Host path'] / costs['engine run, direct path']:>9.2f}x")
    lines.append(f"{'evaluate: stock / direct':34}{costs['evaluate, stock Host path'] / costs['evaluate, direct path']:>9.2f}x")
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=None, help="bench/cases.py seed (the screening bench uses 6)")
    parser.add_argument("--repeats", type=int, default=5)
    options = parser.parse_args(argv)
    print(f"CPU per call, best of {options.repeats} passes over {options.cases} varied contexts "
          "(same firings and evaluations asserted on every case)")
    print("\n".join(report(measure(options.cases, options.repeats, options.seed))))


if __name__ == "__main__":
    main()
