#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The Ansible playbook against the example fleet of deploy/ansible, as is,
# on this machine: each host (edge-01, edge-02, core-01) is a network
# namespace holding the interfaces its host_vars name, and a directory
# that stands for its / (guarder_root); connection local; systemd is not
# managed (it is not PID 1 here). The token comes from the controller's
# environment, as group_vars/all.yml allows. Checks:
#   1. first run: every host changed, nothing failed; each host's config
#      is the layering of all.yml < group < host vars, passes
#      guarder-collector --check-config in its namespace and guarder-api's;
#      the token is only in the 0600 env file; units installed, the AI
#      worker's only where the group says;
#   2. second run: changed=0 on every host;
#   3. one host var changed on edge-02: only edge-02 changes, and only the
#      restart handlers of what reads the config are notified, for it alone;
#   4. a bad value on edge-01 (xdp_mode: turbo): edge-01 fails at the config
#      check and keeps its installed config; the others stay unchanged.
# Usage: ansible.sh BUILD_DIR     (root for the namespaces; 77 without
# root or ansible-playbook)
set -u
build=$(cd "$1" && pwd)
top=$(cd "$(dirname "$0")/../.." && pwd)
play=$top/deploy/ansible
SKIP=77
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root (network namespaces)" >&2; exit $SKIP; }
command -v ansible-playbook >/dev/null || {
	echo "SKIP: ansible-playbook missing (scripts/setup.sh installs ansible-core)" >&2
	exit $SKIP
}
TMP=$(mktemp -d /tmp/guarder-dp-ansible.XXXXXX)
NETNS=()
cleanup() {
	local ns
	for ns in "${NETNS[@]}"; do ip netns del "$ns" 2>/dev/null; done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
fail() {
	echo "FAIL: $*" >&2
	for f in "$TMP"/run*.log; do
		[ -s "$f" ] && { echo "--- $f (last 40 lines)" >&2; tail -n 40 "$f" >&2; }
	done
	exit 1
}
ok() { echo "  ok: $*"; }

id=$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
hosts=(edge-01 edge-02 core-01)
export GUARDER_API_TOKEN=dp-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
export OPENAI_API_KEY=sk-dp-test-not-a-key
export ANSIBLE_CONFIG=$play/ansible.cfg ANSIBLE_LOCAL_TEMP=$TMP/ansible-local \
	ANSIBLE_REMOTE_TEMP=$TMP/ansible-remote ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0

# The hosts: a namespace each, with the interfaces of its host_vars.
for bin in collector/guarder-collector api/guarder-api ai/guarder-ai; do
	[ -x "$build/$bin" ] || fail "$build/$bin not built"
done
i=0
for h in "${hosts[@]}"; do
	i=$((i + 1))
	ns=gdr-dp-$id-$i
	ip netns add "$ns" || fail "ip netns add $ns"
	NETNS+=("$ns")
	for ifc in $(python3 -c "import yaml,sys; print(' '.join(yaml.safe_load(open(sys.argv[1]))['guarder_interfaces']))" \
		"$play/inventory/example/host_vars/$h.yml"); do
		ip -n "$ns" link add "$ifc" type veth peer name "${ifc}p" || fail "ip link add $ifc in $ns"
	done
done

# What makes the example fleet local: per-host roots, pins, namespaces.
# Inventory-file host vars: the example's group_vars and host_vars keep
# their precedence over none of these (they do not set them).
inventory() { # EXTRA_YAML_FOR_HOSTS (python dict literal per host name)
	python3 - "$TMP" "$id" "$build" "$1" <<'PY' >"$TMP/local.yml"
import ast, sys, yaml
tmp, rid, build, extra = sys.argv[1:]
extra = ast.literal_eval(extra) if extra else {}
hosts = {}
for i, h in enumerate(["edge-01", "edge-02", "core-01"], 1):
    v = {
        "ansible_connection": "local",
        "ansible_python_interpreter": "/usr/bin/python3",
        "guarder_become": False,
        "guarder_root": f"{tmp}/hosts/{h}",
        "guarder_pin_path": f"/sys/fs/bpf/guarder-test-dp-{rid}-{i}",
        "guarder_check_prefix": f"ip netns exec gdr-dp-{rid}-{i}",
        "guarder_manage_services": False,
        "guarder_build": False,
        "guarder_build_dir": build,
        "guarder_create_user": False,
    }
    v.update(extra.get(h, {}))
    hosts[h] = v
yaml.safe_dump({"all": {"hosts": hosts}}, sys.stdout)
PY
}

run() { # N: ansible-playbook, log in run$N.log, recap in recap$N
	(cd "$play" && timeout 600 ansible-playbook -i inventory/example/hosts.yml -i "$TMP/local.yml" \
		site.yml) >"$TMP/run$1.log" 2>&1
	local rc=$?
	sed -n '/^PLAY RECAP/,$p' "$TMP/run$1.log" >"$TMP/recap$1"
	return $rc
}
recap() { # N HOST FIELD
	awk -v h="$2" -v f="$3" '$1 == h { for (i = 3; i <= NF; i++) { split($i, kv, "="); if (kv[1] == f) print kv[2] } }' "$TMP/recap$1"
}

# 1. First run.
inventory ""
t0=$SECONDS
run 1 || fail "first run failed"
echo "  first run: $((SECONDS - t0)) s"
for h in "${hosts[@]}"; do
	[ "$(recap 1 $h failed)" = 0 ] || fail "$h failed"
	[ "$(recap 1 $h changed)" -gt 0 ] || fail "$h: first run changed nothing"
done
ok "first run: $(grep -c 'changed=' "$TMP/recap1") hosts deployed"

i=0
for h in "${hosts[@]}"; do
	i=$((i + 1))
	r=$TMP/hosts/$h
	conf=$r/etc/guarder/guarder.yaml
	[ -s "$conf" ] || fail "$h: no $conf"
	ip netns exec gdr-dp-$id-$i "$r/usr/sbin/guarder-collector" -c "$conf" --check-config \
		>"$TMP/$h.dump" 2>"$TMP/$h.err" || fail "$h: collector --check-config: $(cat "$TMP/$h.err")"
	"$r/usr/sbin/guarder-api" -c "$conf" --check-config >/dev/null 2>"$TMP/$h.err" ||
		fail "$h: api --check-config: $(cat "$TMP/$h.err")"
	# The layering, computed from the inventory files, against the dump.
	python3 - "$play/inventory/example" "$h" "$TMP/$h.dump" "$r" "$i" "$id" <<'PY' || fail "$h: effective config"
import sys, yaml
inv, h, dump, root, i, rid = sys.argv[1:]
d = yaml.safe_load(open(dump))
load = lambda p: yaml.safe_load(open(f"{inv}/{p}")) or {}
fleet, hv = load("group_vars/all.yml"), load(f"host_vars/{h}.yml")
group = load("group_vars/edge.yml") if h.startswith("edge") else {}
def want(section, key, *layers):
    for layer in reversed(layers):
        v = layer.get(section, {}).get(key)
        if v is not None:
            return v
bad = []
def norm(v):  # the dump writes ports as strings (ranges are "N-M")
    return [str(x) for x in v] if isinstance(v, list) else v
def eq(what, got, exp):
    if norm(got) != norm(exp):
        bad.append(f"{what}: got {got!r}, expected {exp!r}")
eq("node.name", d["node"]["name"], hv["guarder_node_name"])
eq("collector.interfaces", d["collector"]["interfaces"], hv["guarder_interfaces"])
eq("collector.xdp_mode", d["collector"]["xdp_mode"],
   hv.get("guarder_xdp_mode") or group.get("guarder_xdp_mode") or "auto")
eq("kafka.brokers", d["kafka"]["brokers"], ",".join(fleet["guarder_kafka_brokers"]))
cfgs = [fleet["guarder_config"], group.get("guarder_config_group", {}), hv.get("guarder_config_host", {})]
for sec, key in [("bpf", "flow_table_size"), ("collector", "top_flows"), ("collector", "console"),
                 ("rules", "protected_ports"), ("api", "listen"), ("ai", "window"), ("ai", "group_id")]:
    exp = want(sec, key, *cfgs)
    if exp is not None:
        eq(f"{sec}.{key}", d[sec][key], exp)
eq("bpf.pin_path", d["bpf"]["pin_path"], f"/sys/fs/bpf/guarder-test-dp-{rid}-{i}")
eq("rules.file", d["rules"]["file"], f"{root}/var/lib/guarder/rules.json")
eq("api.token", d["api"]["token"], "<redacted>")
for b in bad:
    print("FAIL:", h, b, file=sys.stderr)
sys.exit(1 if bad else 0)
PY
	grep -qF "$GUARDER_API_TOKEN" "$conf" && fail "$h: the token is in guarder.yaml"
	env=$r/etc/guarder/guarder.env
	[ "$(stat -c %a "$env")" = 600 ] || fail "$h: guarder.env mode $(stat -c %a "$env")"
	grep -qx "GUARDER_API_TOKEN=$GUARDER_API_TOKEN" "$env" || fail "$h: token not in guarder.env"
	for u in guarder-collector guarder-api; do
		[ -s "$r/etc/systemd/system/$u.service" ] || fail "$h: $u.service not installed"
	done
	grep -q '^ExecStart=/usr/sbin/guarder-collector -c /etc/guarder/guarder.yaml$' \
		"$r/etc/systemd/system/guarder-collector.service" || fail "$h: unit paths"
	if [ $h = core-01 ]; then
		[ -x "$r/usr/sbin/guarder-ai" ] && [ -s "$r/etc/systemd/system/guarder-ai.service" ] ||
			fail "core-01 (group guarder_ai) has no AI worker"
	else
		[ -e "$r/etc/systemd/system/guarder-ai.service" ] && fail "$h runs an AI worker"
	fi
	ok "$h: layered config valid in its namespace, token only in guarder.env (0600), units"
done

# 2. Idempotent.
run 2 || fail "second run failed"
for h in "${hosts[@]}"; do
	[ "$(recap 2 $h changed)" = 0 ] || fail "$h: second run changed $(recap 2 $h changed)"
	[ "$(recap 2 $h failed)" = 0 ] || fail "$h: second run failed"
done
ok "second run: changed=0 on every host"

# 3. One host var on edge-02.
inventory "{'edge-02': {'guarder_config_host': {'collector': {'top_flows': 7}}}}"
run 3 || fail "third run failed"
for h in edge-01 core-01; do
	[ "$(recap 3 $h changed)" = 0 ] || fail "$h changed with edge-02's var"
done
[ "$(recap 3 edge-02 changed)" = 1 ] || fail "edge-02: changed=$(recap 3 edge-02 changed), expected 1 (the config)"
grep -q '^  top_flows: 7$' "$TMP/hosts/edge-02/etc/guarder/guarder.yaml" || fail "edge-02: top_flows not rendered"
# Handlers notified: for edge-02 only (skipped: systemd is not managed here).
handlers=$(awk '/^RUNNING HANDLER/ { h = $0; next } /^(TASK|PLAY)/ { h = "" }
	/^(skipping|changed|ok): \[/ && h { print h " " $2 }' "$TMP/run3.log")
for u in collector api; do
	echo "$handlers" | grep -q "restart guarder-$u\] .* \[edge-02\]" || fail "restart guarder-$u not notified for edge-02"
done
echo "$handlers" | grep -q "edge-01\|core-01" && fail "handlers notified for other hosts: $handlers"
ok "one host var: only edge-02 changed (its config), its restart handlers alone notified"

# 4. A bad value on edge-01: refused by the check, nothing installed.
cp "$TMP/hosts/edge-01/etc/guarder/guarder.yaml" "$TMP/edge-01.before"
inventory "{'edge-01': {'guarder_xdp_mode': 'turbo'}, 'edge-02': {'guarder_config_host': {'collector': {'top_flows': 7}}}}"
run 4 && fail "a run with xdp_mode: turbo succeeded"
[ "$(recap 4 edge-01 failed)" = 1 ] || fail "edge-01 did not fail"
grep -q "collector.xdp_mode" "$TMP/run4.log" || fail "the failure does not name collector.xdp_mode"
cmp -s "$TMP/edge-01.before" "$TMP/hosts/edge-01/etc/guarder/guarder.yaml" || fail "edge-01's config changed"
for h in edge-02 core-01; do
	[ "$(recap 4 $h changed)" = 0 ] && [ "$(recap 4 $h failed)" = 0 ] || fail "$h affected by edge-01's error"
done
ok "a bad value on edge-01: refused naming the key, its config kept, the others untouched"
echo "PASS: Ansible deploys the example fleet, idempotent"
