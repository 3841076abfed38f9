package jobspec

// ExampleJob returns a job file for `orch job init`. The short form is the
// minimum that runs; the long form walks through the common blocks with a
// note on each.
func ExampleJob(short bool) string {
	if short {
		return exampleShort
	}
	return exampleLong
}

const exampleShort = `job "example" {
  group "web" {
    network {
      port "http" {
        to = 8080
      }
    }

    task "server" {
      driver = "docker"

      config {
        image = "hashicorp/http-echo:1.0"
        args  = ["-listen", ":8080", "-text", "hello from orch"]
        ports = ["http"]
      }

      resources {
        cpu    = 100
        memory = 64
      }
    }
  }
}
`

const exampleLong = `# An orch job file. orch reads Nomad's HCL2 job syntax, so existing Nomad
# jobs run unchanged where orch supports the blocks they use; a block orch
# does not support is refused with its position (docs/job-fields.md).
#
# Try it:   orch job run example.hcl
# Inspect:  orch job status example

# Inputs can be set with -var 'greeting=hi', -var-file, or ORCH_VAR_greeting.
variable "greeting" {
  type        = string
  default     = "hello from orch"
  description = "Text the web server answers with."
}

job "example" {
  # service (long-running), batch (runs to completion), system (one per
  # node) or sysbatch (a batch run on every node).
  type = "service"

  # "*" places the job in any datacenter.
  datacenters = ["*"]

  # A group is the unit of placement: its tasks always share a node.
  group "web" {
    count = 2

    # Ports are allocated per allocation. "to" is the port the task
    # listens on inside its network namespace.
    network {
      port "http" {
        to = 8080
      }
    }

    # Restart a failing task in place a few times before giving up on
    # the allocation...
    restart {
      attempts = 2
      interval = "30m"
      delay    = "15s"
      mode     = "fail"
    }

    # ...and then place a replacement elsewhere, backing off each time.
    reschedule {
      delay          = "30s"
      delay_function = "exponential"
      max_delay      = "1h"
      unlimited      = true
    }

    # Scratch space shared by the group's tasks, in MB.
    ephemeral_disk {
      size = 300
    }

    task "server" {
      driver = "docker"

      config {
        image = "hashicorp/http-echo:1.0"
        args  = ["-listen", ":8080", "-text", var.greeting]
        ports = ["http"]
      }

      # Values in ${...} that name node, attr, meta or NOMAD_* are filled in
      # on the client when the task starts.
      env {
        ALLOC_INDEX = "${NOMAD_ALLOC_INDEX}"
      }

      # CPU in MHz, memory in MB. The task is stopped if it exceeds memory.
      resources {
        cpu    = 100
        memory = 64
      }

      # Rotated logs kept per task: max_files x max_file_size MB.
      logs {
        max_files     = 5
        max_file_size = 10
      }
    }
  }
}
`
