# A nightly backup: periodic batch job with a script in a heredoc whose
# ${...} are the shell's, not Nomad's.
job "backup" {
  type = "batch"

  periodic {
    crons            = ["0 3 * * *"]
    time_zone        = "Europe/Berlin"
    prohibit_overlap = true
  }

  group "backup" {
    reschedule {
      attempts  = 0
      unlimited = false
    }

    task "dump" {
      driver = "raw_exec"

      config {
        command = "/bin/sh"
        args = ["-c", <<EOT
set -eu
for db in app auth; do
  echo "dumping ${db} to $${BACKUP_DIR:-/tmp}"
done
EOT
        ]
      }

      env {
        BACKUP_DIR = "${NOMAD_ALLOC_DIR}/data"
        RETENTION  = 7
      }

      kill_timeout = "30s"

      logs {
        max_files     = 3
        max_file_size = 5
      }
    }
  }
}
