job "app" {
  group "app" {
    ephemeral_disk {
      size = 1000
    }

    task "migrate-db" {
      driver = "raw_exec"

      lifecycle {
        hook = "prestart"
      }

      config {
        command = "/app/migrate"
      }
    }

    task "proxy" {
      driver = "raw_exec"

      lifecycle {
        hook    = "prestart"
        sidecar = true
      }

      config {
        command = "/app/proxy"
      }
    }

    task "main" {
      driver = "raw_exec"

      config {
        command = "/app/main"
      }
    }

    task "notify" {
      driver = "raw_exec"

      lifecycle {
        hook = "poststop"
      }

      config {
        command = "/app/notify"
      }
    }
  }
}
