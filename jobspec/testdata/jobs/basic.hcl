variable "image" {
  type    = string
  default = "redis:7"
}

locals {
  port_name = "db"
}

job "example" {
  datacenters = ["dc1"]
  type        = "service"

  meta {
    owner = "team-a"
  }

  constraint {
    attribute = "${attr.kernel.name}"
    value     = "linux"
  }

  group "cache" {
    count = 2

    network {
      port "db" {
        to = 6379
      }
    }

    restart {
      attempts = 0
    }

    task "redis" {
      driver = "docker"

      config {
        image = var.image
        ports = [local.port_name]
        args  = ["--port", "${NOMAD_PORT_db}", "${meta.rack}"]
        mount {
          type   = "bind"
          source = "local/data"
          target = "/data"
        }
      }

      env {
        IDX = "${NOMAD_ALLOC_INDEX}"
      }

      resources {
        cpu    = 500
        memory = 256
      }

      logs {
        max_files = 3
      }
    }
  }
}
