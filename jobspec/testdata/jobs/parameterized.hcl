job "transcode" {
  type = "batch"

  parameterized {
    payload       = "required"
    meta_required = ["input"]
    meta_optional = ["profile"]
  }

  group "transcode" {
    task "ffmpeg" {
      driver = "exec"

      config {
        command = "ffmpeg"
        args    = ["-i", "${NOMAD_META_input}", "local/out.mp4"]
      }

      dispatch_payload {
        file = "input.json"
      }
    }
  }
}
