# A JVM service fetched as an artifact.
job "app-jar" {
  datacenters = ["dc1"]

  group "app" {
    task "app" {
      driver = "java"

      artifact {
        source      = "https://example.com/releases/app-1.4.jar"
        destination = "local/"
        options {
          checksum = "sha256:abc123"
          depth    = 1
        }
      }

      config {
        jar_path    = "local/app-1.4.jar"
        jvm_options = ["-Xmx512m", "-Xms256m"]
        args        = ["--port", "${NOMAD_PORT_http}"]
      }

      resources {
        cpu    = 500
        memory = 768
      }
    }

    network {
      port "http" {}
    }
  }
}
