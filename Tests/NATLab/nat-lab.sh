#!/usr/bin/env bash
# A NAT lab in Linux network namespaces, made and removed by the tests themselves.
#
#   nat-lab.sh up PREFIX [cone|symmetric]   build the topology below (NAT 2 cone or symmetric)
#   nat-lab.sh down PREFIX                  remove every namespace of the lab
#   nat-lab.sh exec PREFIX NODE CMD…        run CMD inside namespace NODE (pub, nat1, nat2, a, b)
#
#            PREFIX-a 10.1.0.2                          PREFIX-b 10.2.0.2
#                 |                                          |
#   LAN 10.1.0.0/24                             LAN 10.2.0.0/24
#                 |                                          |
#          PREFIX-nat1 (masquerade)              PREFIX-nat2 (masquerade, or
#           WAN 203.0.113.11                      fully-random = symmetric) WAN 203.0.113.12
#                 \_________________  _________________/
#                                   \/
#                 PREFIX-pub: bridge 203.0.113.1 (the rendezvous lives here)
#
# 203.0.113.0/24 is TEST-NET-3: addresses that exist only inside this lab. Each NAT drops what
# arrives on its WAN side for itself or for new inbound flows, as a home router does; without that
# input firewall an early punch that beats the NAT's own outbound mapping leaves a stale conntrack
# entry and the NAT picks a new port, which breaks hole punching even between cone NATs.
set -euo pipefail

command=${1:-}
prefix=${2:-cvl}
ns() { echo "$prefix-$1"; }
run() { ip netns exec "$(ns "$1")" "${@:2}"; }

down() {
    for n in a b nat1 nat2 pub; do ip netns del "$(ns $n)" 2>/dev/null || true; done
}

up() {
    local nat2mode=${1:-cone}
    down
    for n in pub nat1 nat2 a b; do ip netns add "$(ns $n)"; run $n ip link set lo up; done

    # The public segment: a bridge in pub, one veth to each NAT's WAN side.
    run pub ip link add br0 type bridge
    run pub ip addr add 203.0.113.1/24 dev br0
    run pub ip link set br0 up
    local i
    for i in 1 2; do
        ip link add "$prefix-w$i" netns "$(ns pub)" type veth peer name wan netns "$(ns nat$i)"
        run pub ip link set "$prefix-w$i" master br0
        run pub ip link set "$prefix-w$i" up
        run nat$i ip addr add "203.0.113.1$i/24" dev wan
        run nat$i ip link set wan up
    done

    # Each private LAN: one veth between the NAT and its host.
    local host
    for i in 1 2; do
        host=$([ $i = 1 ] && echo a || echo b)
        ip link add lan netns "$(ns nat$i)" type veth peer name eth0 netns "$(ns $host)"
        run nat$i ip addr add "10.$i.0.1/24" dev lan
        run nat$i ip link set lan up
        run $host ip addr add "10.$i.0.2/24" dev eth0
        run $host ip link set eth0 up
        run $host ip route add default via "10.$i.0.1"
        run nat$i sysctl -qw net.ipv4.ip_forward=1
        local masquerade="masquerade"
        if [ $i = 2 ] && [ "$nat2mode" = symmetric ]; then masquerade="masquerade fully-random"; fi
        run nat$i nft -f - <<NFT
table ip lab {
    chain postrouting { type nat hook postrouting priority srcnat; oifname "wan" $masquerade; }
    chain input { type filter hook input priority filter; policy accept;
        iifname "wan" ct state established,related accept; iifname "wan" drop; }
    chain forward { type filter hook forward priority filter; policy accept;
        iifname "wan" ct state established,related accept; iifname "wan" drop; }
}
NFT
    done
}

case "$command" in
    up) up "${3:-cone}" ;;
    down) down ;;
    exec) shift 2; node=$1; shift; exec ip netns exec "$(ns "$node")" "$@" ;;
    *) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
