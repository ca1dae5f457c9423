"""Writes bench/scale.sh's figures into the scale section of bench/RESULTS.md.

The section sits between two markers, so bench/run.sh's report (which keeps
it) and this one can each rewrite their own part. Each workload is shown at
every size with its ratio to the same backend's empty-database figure: the
goal is within 10% at 1,000,000 users.
"""
import collections
import sys

BEGIN = "<!-- scale:begin -->"
END = "<!-- scale:end -->"


def number(text):
    try:
        return float(text)
    except ValueError:
        return None


def main():
    rows_path, sizes_path, results_path, commit, seconds = sys.argv[1:6]
    figures = collections.OrderedDict()
    for line in open(rows_path):
        backend, users, workload, rps, p50, p99, errors, note = line.rstrip("\n").split("\t")
        figures.setdefault((backend, workload), []).append((int(users), rps, p50, p99, errors, note))
    sizes = collections.defaultdict(dict)
    for line in open(sizes_path):
        backend, users, kind, value = line.rstrip("\n").split("\t")
        sizes[(backend, int(users))][kind] = value

    out = [BEGIN, "## Data scale (bench/scale.sh)", ""]
    out.append(
        "Commit %s, %s s per workload, servers on the default configuration (log level warn, "
        "login, login_ip and registration rates raised, periodic prune off so the prune below is measured alone). "
        "Each user: one live session with three refresh tokens (one expired a week ago, one rotated, "
        "one live). Ratio: to the same backend with no users." % (commit, seconds)
    )
    out.append("")
    out.append("| backend | workload | users | req/s | vs empty | p50 ms | p99 ms | errors | note |")
    out.append("|---|---|---:|---:|---:|---:|---:|---:|---|")
    for (backend, workload), entries in figures.items():
        empty = None
        for users, rps, *_ in entries:
            if users == 0:
                empty = number(rps)
        for users, rps, p50, p99, errors, note in entries:
            ratio = ""
            if empty and number(rps) is not None:
                ratio = "%.0f%%" % (100.0 * number(rps) / empty)
            out.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                backend, workload, "{:,}".format(users), rps, ratio, p50, p99, errors, note))
    out.append("")
    out.append("| backend | users | database size | bytes per user |")
    out.append("|---|---:|---:|---:|")
    for (backend, users), kinds in sorted(sizes.items()):
        size = number(kinds.get("size", ""))
        if size is None:
            continue
        empty = number(sizes.get((backend, 0), {}).get("size", "")) or 0
        per_user = "%.0f" % ((size - empty) / users) if users else ""
        out.append("| %s | %s | %.1f MiB | %s |" % (backend, "{:,}".format(users), size / 2**20, per_user))
    for (backend, users), kinds in sorted(sizes.items()):
        if "refresh_row" in kinds and users:
            out.append("")
            out.append("Postgres, %s users: %s bytes per refresh-token row with its indexes." % (
                "{:,}".format(users), kinds["refresh_row"]))
    out.append(END)

    try:
        text = open(results_path).read()
    except FileNotFoundError:
        text = ""
    if BEGIN in text and END in text:
        before, rest = text.split(BEGIN, 1)
        after = rest.split(END, 1)[1]
        text = before + "\n".join(out) + after
    else:
        text = text.rstrip("\n") + "\n\n" + "\n".join(out) + "\n"
    with open(results_path, "w") as target:
        target.write(text)


if __name__ == "__main__":
    main()
