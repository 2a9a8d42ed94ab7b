/* IMPORTANT
 * This snapshot file is auto-generated, but designed for humans.
 * It should be checked into source control and tracked carefully.
 * Re-generate by setting TAP_SNAPSHOT=1 and running tests.
 * Make sure to inspect the output below.  Do not ignore changes!
 */
'use strict'
exports[`test/proto/golden.test.ts > TAP > garbage.bin > must match snapshot 1`] = `
Object {
  "code": "PROTO_ERR_MALFORMED",
}
`

exports[`test/proto/golden.test.ts > TAP > hello.bin > must match snapshot 1`] = `
Object {
  "frame": Object {
    "hello": Object {
      "agentId": "agent-1",
      "bootId": "boot-1",
      "capabilities": Array [
        "ebpf",
      ],
      "version": "0.1.0",
    },
    "type": "hello",
  },
  "rawLengths": undefined,
}
`

exports[`test/proto/golden.test.ts > TAP > truncated-batch.bin > must match snapshot 1`] = `
Object {
  "code": "PROTO_ERR_TRUNCATED",
}
`

exports[`test/proto/golden.test.ts > TAP > unknown-field.bin > must match snapshot 1`] = `
Object {
  "frame": Object {
    "batch": Object {
      "batchId": 2,
      "events": Array [
        Object {
          "agentId": "agent-1",
          "bootId": "boot-1",
          "comm": "curl",
          "dns": Object {
            "name": "webhook.site",
            "qtype": 1,
          },
          "exe": "/usr/bin/curl",
          "host": "runner-3",
          "jobId": "job-9",
          "kind": "dns",
          "pid": 4242,
          "ppid": 4200,
          "seq": 4,
          "tsNs": 1764000000000000000,
          "uid": 1001,
        },
      ],
    },
    "type": "batch",
  },
  "rawLengths": Array [
    113,
  ],
}
`

exports[`test/proto/golden.test.ts > TAP > valid-batch.bin > must match snapshot 1`] = `
Object {
  "frame": Object {
    "batch": Object {
      "batchId": 1,
      "events": Array [
        Object {
          "agentId": "agent-1",
          "bootId": "boot-1",
          "comm": "curl",
          "exe": "/usr/bin/curl",
          "exec": Object {
            "argv": Array [
              "curl",
              "-sSf",
              "http://gist.githubusercontent.com/m.py",
            ],
            "cwd": "/work/ws",
          },
          "host": "runner-3",
          "jobId": "job-9",
          "kind": "exec",
          "pid": 4242,
          "ppid": 4200,
          "seq": 1,
          "tsNs": 1764000000000000000,
          "uid": 1001,
        },
        Object {
          "agentId": "agent-1",
          "bootId": "boot-1",
          "comm": "curl",
          "exe": "/usr/bin/curl",
          "host": "runner-3",
          "jobId": "job-9",
          "kind": "net",
          "net": Object {
            "domain": "gist.githubusercontent.com",
            "dstIp": "127.6.6.6",
            "dstPort": 80,
            "family": "INET",
            "proto": "TCP",
          },
          "pid": 4242,
          "ppid": 4200,
          "seq": 2,
          "tsNs": 1764000000000000000,
          "uid": 1001,
        },
        Object {
          "agentId": "agent-1",
          "bootId": "boot-1",
          "comm": "curl",
          "exe": "/usr/bin/curl",
          "file": Object {
            "count": 1,
            "op": "CREATE",
            "path": "/work/ws/dist/config.json",
          },
          "host": "runner-3",
          "jobId": "job-9",
          "kind": "file",
          "pid": 4242,
          "ppid": 4200,
          "seq": 3,
          "tsNs": 1764000000000000000,
          "uid": 1001,
        },
      ],
    },
    "type": "batch",
  },
  "rawLengths": Array [
    141,
    124,
    110,
  ],
}
`
