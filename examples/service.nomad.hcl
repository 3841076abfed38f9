# A long-running service: two instances kept running, restarted on failure.
job "ticker" {
  type        = "service"
  datacenters = ["*"]

  group "tick" {
    count = 2

    restart {
      attempts = 3
      interval = "5m"
      delay    = "1s"
      mode     = "delay"
    }

    task "clock" {
      driver = "raw_exec"

      config {
        command = "/bin/sh"
        args    = ["-c", "while true; do echo \"tick $(date +%s) from ${NOMAD_ALLOC_NAME}\"; sleep 1; done"]
      }

      kill_timeout = "3s"

      logs {
        max_files     = 3
        max_file_size = 1
      }

      resources {
        cpu    = 50
        memory = 32
      }
    }
  }
}
