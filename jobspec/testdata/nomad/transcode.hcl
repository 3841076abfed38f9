# A dispatch job: parameterized, its payload written into the task.
job "transcode" {
  type        = "batch"
  datacenters = ["dc1"]

  parameterized {
    payload       = "required"
    meta_required = ["input"]
    meta_optional = ["profile"]
  }

  group "transcode" {
    task "ffmpeg" {
      driver = "exec"

      config {
        command = "/usr/bin/ffmpeg"
        args    = ["-i", "${NOMAD_META_input}", "-preset", "${NOMAD_META_profile}"]
      }

      dispatch_payload {
        file = "input.json"
      }

      resources {
        cpu    = 1000
        memory = 1024
      }
    }
  }
}
