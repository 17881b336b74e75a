#!/usr/bin/env python3
"""NDJSON input for `interruptions replay`: N events of one channel (ch1),
channel.interrupted.v0 and channel.resumed.v0 alternating a second apart,
in order, shuffled (seed 1) or reversed. Issue 21's measure of the cost per
event as a channel grows: python3 scripts/one-channel.py 2000 shuffle |
interruptions replay --output /dev/null"""
import datetime
import json
import random
import sys

n = int(sys.argv[1])
order = sys.argv[2] if len(sys.argv) > 2 else "order"
base = datetime.datetime(2026, 1, 5, 8, 0, 0, tzinfo=datetime.timezone.utc)
events = []
for i in range(n):
    ts = (base + datetime.timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    typ = "channel.interrupted.v0" if i % 2 == 0 else "channel.resumed.v0"
    events.append({"specversion": "1.0", "type": typ, "id": "ev%07d" % i, "source": "/channel",
                   "subject": "ch1", "time": ts, "datacontenttype": "application/json",
                   "data": {"channel": {"channelId": "ch1"}, "timestamp": ts,
                            "party": {"role": "agent", "agentId": "1"}}})
if order == "shuffle":
    random.seed(1)
    random.shuffle(events)
elif order == "reverse":
    events.reverse()
elif order != "order":
    sys.exit("order must be order, shuffle or reverse")
for e in events:
    print(json.dumps(e))
