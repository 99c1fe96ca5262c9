# natlab netcheck against 198.19.1.1:3478
# A field report: an ISP router measured with natlab netcheck --profile-out.
[nat]
type = nat
mapping = address-and-port-dependent
filtering = address-and-port-dependent
allocation = sequential
sequential-step = 2
# preserve-fallback: not measured: no port collision happened
# port-parity: not measured: too few ports chosen by the allocator
timeout = 60s
refresh = outbound
hairpin = off
public-ips = 1
pooling = paired
port-mapping = none
