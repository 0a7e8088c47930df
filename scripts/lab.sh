# Sourced by the bench scripts: two namespaces $A and $B joined by one veth
# pair (veth0 on each side, 10.99.0.1 and 10.99.0.2, no IPv6), a work dir
# $WORK, and cleanup on exit (namespaces, work dir, and $WPID if set).
TAG="${1:-lcb}$$"
A="$TAG-a"; B="$TAG-b"
WORK=$(mktemp -d); chmod 777 "$WORK"
WPID=""
lab_cleanup() {
    [ -n "$WPID" ] && kill -TERM "$WPID" 2>/dev/null || true
    ip netns del "$A" 2>/dev/null || true
    ip netns del "$B" 2>/dev/null || true
    rm -rf "$WORK"
}
trap lab_cleanup EXIT
ip netns add "$A"; ip netns add "$B"
ip link add "${TAG}0" type veth peer name "${TAG}1"
ip link set "${TAG}0" netns "$A"; ip link set "${TAG}1" netns "$B"
ip -n "$A" link set "${TAG}0" name veth0; ip -n "$B" link set "${TAG}1" name veth0
for ns in "$A" "$B"; do
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
    ip -n "$ns" link set lo up; ip -n "$ns" link set veth0 up
done
ip -n "$A" addr add 10.99.0.1/24 dev veth0
ip -n "$B" addr add 10.99.0.2/24 dev veth0
