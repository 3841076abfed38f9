job "report" {
  type = "batch"

  periodic {
    crons            = ["0 3 * * *", "30 15 * * 1-5"]
    prohibit_overlap = true
    time_zone        = "Europe/Paris"
  }

  reschedule {
    attempts = 2
    interval = "2h"
  }

  group "report" {
    restart {
      mode = "fail"
    }

    task "run" {
      driver = "raw_exec"

      config {
        command = "/usr/local/bin/report"
        args    = ["--date", "yesterday"]
      }
    }
  }
}
