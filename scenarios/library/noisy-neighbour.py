#!/usr/bin/env python3
"""A busy neighbour: one datagram each to a new port of HOST, RATE a second,
so the NAT in front of it allocates a new mapping for each (a sequential
NAT's port counter moves on between the server's observation and a peer's
probes). usage: noisy-neighbour.py HOST RATE"""
import socket
import sys
import time

host, rate = sys.argv[1], float(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
i = 0
while True:
    s.sendto(b"noise", (host, 20000 + i % 40000))
    i += 1
    time.sleep(1 / rate)
