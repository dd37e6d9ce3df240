#!/bin/sh
# The redirect init container of apisnoop's opt-in webhook (pods annotated `apisnoop.io/redirect: iptables`):
# in the pod's own network namespace, sends its TCP connections to the apiserver's ClusterIP:port to the
# apisnoop proxy Service instead (NAT OUTPUT, DNAT). Then the pod's clients reach the proxy whatever address
# they use for the apiserver — KUBERNETES_SERVICE_HOST, `https://kubernetes.default.svc` hardcoded, or the
# ClusterIP — and the proxy answers TLS for those names with its leaf. Idempotent; needs NET_ADMIN only.
#   APISNOOP_REDIRECT_FROM  the apiserver as pods reach it, IPv4:port (the webhook sets it)
#   APISNOOP_REDIRECT_TO    the proxy Service, IPv4:port
set -eu
from="${APISNOOP_REDIRECT_FROM:?APISNOOP_REDIRECT_FROM (apiserver ClusterIP:port) is not set}"
to="${APISNOOP_REDIRECT_TO:?APISNOOP_REDIRECT_TO (proxy ClusterIP:port) is not set}"
ipv4_port='^[0-9]{1,3}(\.[0-9]{1,3}){3}:[0-9]{1,5}$'
for value in "$from" "$to"; do
  if ! echo "$value" | grep -Eq "$ipv4_port"; then
    echo "apisnoop-redirect: '$value' is not IPv4:port" >&2
    exit 2
  fi
done
chain=APISNOOP_REDIRECT
iptables -t nat -N "$chain" 2>/dev/null || iptables -t nat -F "$chain"
iptables -t nat -A "$chain" -p tcp -d "${from%:*}" --dport "${from##*:}" -j DNAT --to-destination "$to"
iptables -t nat -C OUTPUT -j "$chain" 2>/dev/null || iptables -t nat -A OUTPUT -j "$chain"
echo "apisnoop-redirect: tcp $from -> $to"
iptables -t nat -S "$chain"
