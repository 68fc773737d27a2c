#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Print the offsets a consumer group committed on a topic, as
"PARTITION OFFSET" lines (-1001 when none), read with confluent-kafka.

usage: committed.py BOOTSTRAP GROUP TOPIC PARTITIONS
"""
import sys

from confluent_kafka import Consumer, TopicPartition


def main():
    bootstrap, group, topic, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                  "enable.auto.commit": False})
    try:
        parts = c.committed([TopicPartition(topic, p) for p in range(n)], timeout=20)
    finally:
        c.close()
    for tp in parts:
        print(tp.partition, tp.offset)
    return 0


if __name__ == "__main__":
    sys.exit(main())
