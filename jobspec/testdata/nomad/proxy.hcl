# A reverse proxy on every node: system job, static host ports, docker
# volumes and mounts in both spellings, service registration.
job "proxy" {
  datacenters = ["*"]
  type        = "system"

  group "proxy" {
    network {
      port "http" {
        static = "80"
      }
      port "https" {
        static = 443
      }
      port "admin" {
        static = 8080
        to     = 8080
      }
    }

    service {
      name     = "proxy"
      port     = "admin"
      provider = "nomad"
      tags     = ["edge", "v2"]

      check {
        type     = "http"
        path     = "/ping"
        interval = "10s"
        timeout  = "2s"
      }
    }

    task "proxy" {
      driver = "docker"

      config {
        image        = "traefik:v3.1"
        network_mode = "host"
        ports        = ["http", "https", "admin"]
        volumes      = ["local/traefik.yml:/etc/traefik/traefik.yml:ro"]
        mount = [
          {
            type   = "tmpfs"
            target = "/scratch"
          },
        ]
        labels = {
          "com.example.role" = "edge"
        }
      }

      resources {
        cpu        = 200
        memory     = 128
        memory_max = 256
      }
    }
  }
}
