#!/usr/bin/env bash
# A flood lab in two Linux network namespaces, made and removed by the flood test itself.
#
#   flood-lab.sh up PREFIX SUBNETS HOSTS FIRST [OTHER…]   build it; OTHER are extra addresses (owners)
#   flood-lab.sh down PREFIX                               remove both namespaces
#   flood-lab.sh exec PREFIX rv|fl CMD…                    run CMD inside a namespace
#   flood-lab.sh counters PREFIX                           bytes between the rendezvous and the flood
#
#   PREFIX-rv  rv0 10.200.0.1/24 (the rendezvous)  ── veth ──  fl0 10.200.0.2/24  PREFIX-fl
#              route 10.201.0.0/16 via 10.200.0.2              + 10.201.S.H/32 for S = 1…SUBNETS,
#                                                                H = FIRST…FIRST+HOSTS-1, and OTHER
#
# No address is added outside the two namespaces. nftables in PREFIX-rv counts what arrives from
# the flood's addresses (input) and what leaves for them (output), the OTHER addresses left out,
# so the test measures the rendezvous's amplification outside the process.
set -euo pipefail

command=${1:-}
prefix=${2:-cvf}
rv="$prefix-rv"
fl="$prefix-fl"

down() {
    for n in "$rv" "$fl"; do ip netns del "$n" 2>/dev/null || true; done
}

up() {
    local subnets=$1 hosts=$2 first=$3
    shift 3
    down
    ip netns add "$rv"
    ip netns add "$fl"
    ip -n "$rv" link set lo up
    ip -n "$fl" link set lo up
    ip link add rv0 netns "$rv" type veth peer name fl0 netns "$fl"
    ip -n "$rv" addr add 10.200.0.1/24 dev rv0
    ip -n "$fl" addr add 10.200.0.2/24 dev fl0
    ip -n "$rv" link set rv0 up
    ip -n "$fl" link set fl0 up
    ip -n "$rv" route add 10.201.0.0/16 via 10.200.0.2
    {
        local s h
        for ((s = 1; s <= subnets; s++)); do
            for ((h = first; h < first + hosts; h++)); do echo "addr add 10.201.$s.$h/32 dev fl0"; done
        done
        for other in "$@"; do echo "addr add $other/32 dev fl0"; done
    } | ip -n "$fl" -batch -
    local others=""
    [ $# -gt 0 ] && others="add element ip flood others { $(IFS=,; echo "$*") }"
    ip netns exec "$rv" nft -f - <<NFT
table ip flood {
    set others { type ipv4_addr; }
    counter fromflood { }
    counter toflood { }
    chain input { type filter hook input priority filter; policy accept;
        ip saddr 10.201.0.0/16 ip saddr != @others counter name "fromflood"; }
    chain output { type filter hook output priority filter; policy accept;
        ip daddr 10.201.0.0/16 ip daddr != @others counter name "toflood"; }
}
$others
NFT
}

counters() {
    local name
    for name in fromflood toflood; do
        echo "$name $(ip netns exec "$rv" nft list counter ip flood "$name" | grep -o 'packets [0-9]* bytes [0-9]*')"
    done
}

case "$command" in
    up) shift 2; up "$@" ;;
    down) down ;;
    counters) counters ;;
    exec)
        shift 2
        node=$1
        shift
        exec ip netns exec "$prefix-$node" "$@"
        ;;
    *) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
