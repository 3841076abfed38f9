# Language features real files lean on: locals, functions, a dynamic block,
# a task directly under the job, constraint shorthands.
locals {
  ports = ["metrics", "grpc"]
  base  = { team = "data", tier = "2" }
}

job "worker" {
  datacenters = ["dc1"]
  meta        = merge(local.base, { owner = upper("ops") })

  constraint {
    distinct_hosts = true
  }

  constraint {
    attribute    = "${meta.features}"
    set_contains = "ssd"
  }

  group "workers" {
    count = length(local.ports) + 1

    network {
      dynamic "port" {
        for_each = local.ports
        content {
          to = 9000 + port.key
        }
        labels = [port.value]
      }
    }

    task "work" {
      driver = "exec"
      user   = "nobody"

      config {
        command = "/usr/local/bin/worker"
        args    = [format("--shard=%d", 3), join(",", local.ports)]
      }
    }
  }

  task "reaper" {
    driver = "raw_exec"

    config {
      command = "/usr/local/bin/reaper"
    }
  }
}
