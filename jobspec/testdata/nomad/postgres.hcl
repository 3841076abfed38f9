# A database with a host volume, a rendered config file and a health check.
job "postgres" {
  datacenters = ["dc1"]

  group "db" {
    volume "data" {
      type      = "host"
      source    = "pgdata"
      read_only = false
    }

    network {
      port "db" {
        static = 5432
      }
    }

    service {
      name     = "postgres"
      port     = "db"
      provider = "nomad"

      check {
        type     = "tcp"
        interval = "15s"
        timeout  = "3s"
      }
    }

    ephemeral_disk {
      size = 500
    }

    task "postgres" {
      driver = "docker"

      config {
        image = "postgres:16"
        ports = ["db"]
      }

      volume_mount {
        volume      = "data"
        destination = "/var/lib/postgresql/data"
      }

      template {
        data        = <<EOT
POSTGRES_USER=app
POSTGRES_DB=app
EOT
        destination = "secrets/pg.env"
        env         = true
      }

      resources {
        cpu    = 500
        memory = 512
      }
    }
  }
}
