# A service with a prestart init task and a log-shipping sidecar, run by
# exec with its own restart policy and kill signal.
job "api" {
  datacenters = ["dc1"]

  group "api" {
    count = 3

    network {
      port "http" {}
    }

    task "migrate" {
      driver = "exec"
      lifecycle {
        hook    = "prestart"
        sidecar = false
      }
      config {
        command = "/app/migrate"
        args    = ["up"]
      }
    }

    task "api" {
      driver      = "exec"
      leader      = true
      kill_signal = "SIGINT"
      kill_timeout = "20s"

      config {
        command  = "/app/api"
        args     = ["-listen", ":${NOMAD_PORT_http}"]
        pid_mode = "private"
      }

      restart {
        attempts = 5
        delay    = "10s"
      }

      resources {
        cpu    = 300
        memory = 256
      }
    }

    task "shipper" {
      driver = "exec"
      lifecycle {
        hook    = "poststart"
        sidecar = true
      }
      config {
        command = "/app/ship"
        args    = ["${NOMAD_ALLOC_DIR}/logs"]
      }
      logs {
        disabled = true
      }
    }
  }
}
