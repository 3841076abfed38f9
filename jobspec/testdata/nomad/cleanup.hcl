# Housekeeping on every node once: sysbatch with node pool, metadata and
# a constraint on a client attribute.
job "cleanup" {
  type        = "sysbatch"
  datacenters = ["*"]
  node_pool   = "default"
  priority    = 30

  meta {
    ticket = 4512
    dry    = false
  }

  constraint {
    attribute = "${attr.unique.storage.volume}"
    operator  = "is_set"
  }

  group "sweep" {
    task "sweep" {
      driver = "raw_exec"

      config {
        command = "/usr/bin/find"
        args    = ["/tmp", "-mtime", "+7", "-delete"]
      }

      resources {
        cpu    = 50
        memory = 32
      }
    }
  }
}
