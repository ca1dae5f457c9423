"""Writes bench/RESULTS.md from what bench/run.sh measured.

Usage (by run.sh): report.py ROWS.tsv OUT.md < key=value lines

Each row of ROWS.tsv is one workload: section, workload, requests/s, p50 ms,
p99 ms, errors, peak RSS MiB, ceiling kind (hyper | argon2 | refresh | probe
| empty), target, note, and for a hyper or argon2 row that ceiling measured
right after it. Every figure is set beside the ceiling measured in the same
run (a hyper row beside its own), so reports from different machines
compare by their ratios.
The hand-written history (before/after figures, profiles) in
bench/HISTORY.md is appended unchanged.
"""

import os
import platform
import subprocess
import sys
import time


def command_output(*args):
    try:
        return subprocess.run(args, capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return ""


def cpu_model():
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def memory_gib():
    try:
        with open("/proc/meminfo") as info:
            for line in info:
                if line.startswith("MemTotal:"):
                    return "%.1f GiB" % (int(line.split()[1]) / 1024 / 1024)
    except OSError:
        pass
    return "unknown"


def verdict(value, target, at_least=True):
    if target is None or value is None:
        return ""
    met = value >= target if at_least else value < target
    return "met" if met else "**missed**"


def number(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


KEYS = "keys"


def markers(name):
    return "<!-- %s:begin -->" % name, "<!-- %s:end -->" % name


def previous_block(out_path, name):
    """The marked block `name` of the report at out_path, markers included."""
    if not os.path.exists(out_path):
        return None
    previous = open(out_path).read()
    begin, end = markers(name)
    if begin in previous and end in previous:
        return begin + previous.split(begin, 1)[1].split(end, 1)[0] + end
    return None


def table(section_rows, hyper, argon2):
    lines = [
        "| workload | req/s | ratio | of | target | p50 ms | p99 ms | errors | peak RSS MiB | note |",
        "|---|---:|---:|---:|---|---:|---:|---:|---:|---|",
    ]
    for _, name, rps, p50, p99, errors, peak, kind, target, note, paired in section_rows:
        rate = number(rps)
        goal = number(target)
        ratio, of, target_text = "", "", ""
        # A hyper row's own ceiling, measured right after it (run.sh).
        ceiling = number(paired) or hyper
        if kind == "hyper" and ceiling:
            ratio = "%.0f%%" % (100 * rate / ceiling)
            of = "%.0f" % ceiling
            if goal is not None:
                target_text = ">= %.0f%% of hyper: %s" % (100 * goal, verdict(rate / ceiling, goal))
        elif kind == "argon2" and (number(paired) or argon2):
            ceiling = number(paired) or argon2
            ratio = "%.0f%%" % (100 * rate / ceiling)
            of = "%.1f" % ceiling
            if goal is not None:
                target_text = ">= %.0f%% of argon2: %s" % (100 * goal, verdict(rate / ceiling, goal))
        elif kind == "refresh" and goal is not None:
            target_text = ">= %.0f/s: %s" % (goal, verdict(rate, goal))
        elif kind == "probe":
            target_text = "p99 < 10 ms: %s" % verdict(number(p99), 10.0, at_least=False)
            note = ""
        lines.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (name, rps, ratio, of, target_text, p50, p99, errors, peak, note))
    return lines


def keys_block(rows, hyper, argon2, facts):
    """The signing-key section (bench/run.sh --keys), markers included."""
    key_rows = [r for r in rows if r[0] == KEYS]
    if not key_rows:
        return None
    begin, end = markers(KEYS)
    lines = [begin, "### Signing key algorithms (SQLite, `bench/run.sh --keys`)", ""]
    lines.append(
        "The same workloads with each kind of signing key (`jwt.keys`: an HS256 secret, an "
        "Ed25519, a P-256 and a 2048-bit RSA private key; `bash bench/run.sh --seconds %s --keys-only`, or `--keys` in a full run). Measured %s, commit %s, %s s each, "
        "client and server sharing %s cores of a machine other jobs were using too: compare "
        "the rows with each other and with the bare hyper ceiling of the same run (%.0f req/s), "
        "not with other runs. token/verify and GET /me verify a signature per request; login "
        "signs two tokens but is bound by argon2 (%s/s ceiling)."
        % (facts["seconds"], time.strftime("%Y-%m-%d %H:%M %Z"), facts["commit"], facts["seconds"], facts["cores"],
           hyper or 0, facts["argon2_rate"]))
    lines.append("")
    lines.extend(table(key_rows, hyper, argon2))
    lines.append(end)
    return "\n".join(lines)


def replace_keys_block(out_path, block):
    """--keys-only: the new block in place of the old one (or before ## Memory)."""
    text = open(out_path).read() if os.path.exists(out_path) else "# authd benchmark results\n"
    old = previous_block(out_path, KEYS)
    if old:
        text = text.replace(old, block)
    elif "## Memory\n" in text:
        text = text.replace("## Memory\n", block + "\n\n## Memory\n", 1)
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    with open(out_path, "w") as target:
        target.write(text)


def main():
    rows_path, out_path = sys.argv[1], sys.argv[2]
    facts = dict(line.rstrip("\n").split("=", 1) for line in sys.stdin if "=" in line)
    hyper = number(facts["hyper_rps"])
    argon2 = number(facts["argon2_rate"])
    with open(rows_path) as rows_file:
        rows = [line.rstrip("\n").split("\t") for line in rows_file if line.strip()]
    if facts.get("mode") == "keys-only":
        replace_keys_block(out_path, keys_block(rows, hyper, argon2, facts))
        return

    out = []
    write = out.append
    write("# authd benchmark results\n")
    write(
        "Written by `bench/run.sh` (rerun it to replace this file: "
        "`bash bench/run.sh --postgres postgres://postgres@127.0.0.1:5432/test "
        "--redis redis://127.0.0.1:6379`; plain `bash bench/run.sh` measures SQLite only). "
        "Each workload ran for %s s under wrk on loopback, client and server sharing the "
        "machine's %s cores; figures are ratios to ceilings measured in the same run.\n"
        % (facts["seconds"], facts["cores"])
    )
    write("## Machine\n")
    write("| | |\n|---|---|")
    write("| CPU | %s, %s cores |" % (cpu_model(), facts["cores"]))
    write("| Memory | %s |" % memory_gib())
    write("| Kernel | %s %s |" % (platform.system(), platform.release()))
    write("| Rust | %s |" % (command_output("rustc", "--version") or "unknown"))
    write("| Load tool | %s |" % (command_output("wrk", "-v").splitlines() or ["wrk"])[0])
    write("| authd | commit %s |" % facts["commit"])
    write("| Date | %s |\n" % time.strftime("%Y-%m-%d %H:%M %Z"))

    write("## Ceilings\n")
    write("At the start of the run; each row's ratio is to the same ceiling measured again "
          "right after it (its `of` column).\n")
    write("| ceiling | figure |\n|---|---|")
    write("| bare hyper answering a fixed 200 (`examples/bench_ceilings.rs`, wrk -t2 -c64) | %.0f req/s |" % hyper)
    write("| argon2id verifications of the configured parameters, all cores | %s |\n" % facts["argon2_line"])

    write("## Workloads\n")
    write(
        "Ratio: to bare hyper for the HTTP paths, to the argon2 ceiling for login and "
        "register, each measured right after its row (the `of` column: a shared "
        "machine's throughput drifts over minutes, so each row has its own). Errors: socket errors and unexpected statuses (a 503 from a full "
        "hashing queue counts). Peak RSS: the server's peak during that workload.\n"
    )
    sections = {
        "sqlite": "SQLite",
        "sqlite_warn": "SQLite at log.level = warn (no access line; the level runs before round 3 used)",
        "postgres": "Postgres" + (" + Redis" if facts.get("redis") else ""),
    }
    for section, title in sections.items():
        section_rows = [r for r in rows if r[0] == section]
        if not section_rows:
            continue
        write("### %s\n" % title)
        out.extend(table(section_rows, hyper, argon2))
        write("")

    # The signing-key section (--keys) is its own block, kept from the
    # previous report when this run did not measure it.
    block = keys_block(rows, hyper, argon2, facts) or previous_block(out_path, KEYS)
    if block:
        write(block + "\n")

    write("## Memory\n")
    write("| state | RSS MiB | target |\n|---|---:|---|")
    idle = number(facts["idle_rss"])
    loaded = number(facts["loaded_rss"])
    write("| idle, 2 s after start (SQLite) | %.1f | <= 20 MiB: %s |" % (idle, verdict(-idle, -20.0)))
    write(
        "| peak, 1,000 open keep-alive connections + a login flood (c32) | %.1f | <= 100 MiB: %s |"
        % (loaded, verdict(-loaded, -100.0))
    )
    write("| after that load | %s | |\n" % facts["after_rss"])
    if facts.get("held_errors", "0") != "0":
        write("The 1,000-connection probe saw %s errors.\n" % facts["held_errors"])

    history = os.path.join(os.path.dirname(os.path.abspath(__file__)), "HISTORY.md")
    if os.path.exists(history):
        with open(history) as notes:
            write(notes.read().rstrip() + "\n")
    # bench/scale.sh's and bench/storage.sh's sections are their own: keep them across runs.
    for name in ("scale", "storage"):
        block = previous_block(out_path, name)
        if block:
            write("\n" + block + "\n")
    with open(out_path, "w") as target:
        target.write("\n".join(out))


if __name__ == "__main__":
    main()
