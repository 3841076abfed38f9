job "node-exporter" {
  type     = "system"
  priority = 90

  group "exporter" {
    network {
      port "metrics" {
        static = 9100
      }
    }

    task "exporter" {
      driver = "java"

      config {
        jar_path    = "local/exporter.jar"
        jvm_options = ["-Xmx64m"]
        class_path  = "local"
        nested {
          depth = 1
          ratio = 0.5
        }
      }

      resources {
        cpu    = 50
        memory = 96
      }
    }
  }
}
