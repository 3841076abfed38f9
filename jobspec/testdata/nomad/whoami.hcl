# A web service behind a reverse proxy: the shape of most homelab jobs.
variable "image" {
  type    = string
  default = "traefik/whoami:v1.10"
}

job "whoami" {
  datacenters = ["dc1", "dc2"]
  type        = "service"
  priority    = "60"

  constraint {
    attribute = "${attr.kernel.name}"
    value     = "linux"
  }

  group "web" {
    count = 2

    network {
      port "http" {
        to = 80
      }
    }

    restart {
      attempts = 3
      interval = "5m"
      delay    = "25s"
      mode     = "delay"
    }

    task "whoami" {
      driver = "docker"

      config {
        image = var.image
        ports = ["http"]
        args  = ["--port", "80", "--name", "${NOMAD_ALLOC_NAME}"]
      }

      env {
        TZ   = "Europe/Paris"
        PUID = 1000
        PGID = 1000
      }

      resources {
        cpu    = "100"
        memory = 64
      }
    }
  }
}
