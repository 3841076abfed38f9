# A batch job: runs once to completion on any node with raw_exec.
job "hello" {
  type        = "batch"
  datacenters = ["*"]

  group "greet" {
    task "say" {
      driver = "raw_exec"

      config {
        command = "/bin/sh"
        args    = ["-c", "echo \"hello from ${NOMAD_TASK_NAME} in alloc ${NOMAD_ALLOC_INDEX}\""]
      }

      resources {
        cpu    = 50
        memory = 32
      }
    }
  }
}
