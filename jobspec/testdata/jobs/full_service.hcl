job "full" {
  name        = "full-service"
  region      = "eu"
  namespace   = "prod"
  priority    = 70
  datacenters = ["dc1", "dc2"]
  node_pool   = "large"
  all_at_once = false
  type        = "service"

  meta = {
    team = "platform"
    tier = "1"
  }

  constraint {
    attribute = "${attr.kernel.name}"
    operator  = "="
    value     = "linux"
  }

  constraint {
    distinct_hosts = true
  }

  constraint {
    distinct_property = "${meta.rack}"
  }

  constraint {
    attribute = "${attr.os.version}"
    version   = ">= 20.04"
  }

  constraint {
    attribute = "${node.class}"
    regexp    = "^web-"
  }

  constraint {
    attribute = "${meta.features}"
    operator  = "set_contains_any"
    value     = "ssd,nvme"
  }

  affinity {
    attribute = "${node.datacenter}"
    value     = "dc1"
    weight    = 80
  }

  spread {
    attribute = "${node.datacenter}"
    weight    = 100

    target "dc1" {
      percent = 70
    }

    target "dc2" {
      percent = 30
    }
  }

  update {
    max_parallel      = 2
    health_check      = "checks"
    min_healthy_time  = "15s"
    healthy_deadline  = "4m"
    progress_deadline = "12m"
    canary            = 1
    auto_revert       = true
    auto_promote      = true
    stagger           = "20s"
  }

  migrate {
    max_parallel     = 2
    health_check     = "task_states"
    min_healthy_time = "5s"
    healthy_deadline = "2m"
  }

  reschedule {
    delay          = "10s"
    delay_function = "fibonacci"
    max_delay      = "5m"
    unlimited      = true
  }

  group "web" {
    count                      = 3
    shutdown_delay             = "5s"
    prevent_reschedule_on_lost = true

    meta {
      role = "frontend"
    }

    constraint {
      attribute = "${attr.cpu.arch}"
      value     = "amd64"
    }

    affinity {
      attribute = "${meta.zone}"
      operator  = "set_contains_any"
      value     = "a,b"
      weight    = -20
    }

    spread {
      attribute = "${meta.rack}"
    }

    network {
      mode     = "bridge"
      hostname = "web-${NOMAD_ALLOC_INDEX}"

      port "http" {
        to = 8080
      }

      port "admin" {
        static       = 9090
        to           = 9090
        host_network = "private"
      }

      dns {
        servers  = ["1.1.1.1"]
        searches = ["internal"]
        options  = ["ndots:2"]
      }
    }

    service {
      name                = "web"
      port                = "http"
      provider            = "nomad"
      tags                = ["public", "v2"]
      canary_tags         = ["canary"]
      enable_tag_override = true
      address_mode        = "auto"
      on_update           = "require_healthy"
      tagged_addresses = {
        lan = "10.0.0.1"
      }

      meta {
        version = "2"
      }

      canary_meta {
        canary = "yes"
      }

      check_restart {
        limit = 3
        grace = "30s"
      }

      check {
        name     = "alive"
        type     = "http"
        path     = "/health"
        method   = "GET"
        interval = "10s"
        timeout  = "2s"

        header {
          Authorization = ["Bearer x"]
        }
      }

      check {
        name                     = "tcp"
        type                     = "tcp"
        port                     = "admin"
        interval                 = "15s"
        timeout                  = "3s"
        success_before_passing   = 2
        failures_before_critical = 3
        initial_status           = "passing"

        check_restart {
          limit           = 5
          ignore_warnings = true
        }
      }
    }

    restart {
      attempts = 5
      interval = "10m"
      delay    = "20s"
      mode     = "delay"
    }

    reschedule {
      max_delay = "10m"
    }

    update {
      canary = 2
    }

    migrate {
      max_parallel = 0
    }

    ephemeral_disk {
      size    = 500
      sticky  = true
      migrate = true
    }

    volume "data" {
      type      = "host"
      source    = "web-data"
      read_only = false
    }

    volume "shared" {
      type            = "csi"
      source          = "nfs"
      access_mode     = "multi-node-multi-writer"
      attachment_mode = "file-system"
      per_alloc       = true

      mount_options {
        fs_type     = "ext4"
        mount_flags = ["noatime"]
      }
    }

    disconnect {
      lost_after = "1h"
      replace    = false
      reconcile  = "keep_original"
    }

    task "server" {
      driver       = "docker"
      user         = "nobody"
      kill_timeout = "20s"
      kill_signal  = "SIGINT"
      leader       = true

      config {
        image = "nginx:1.27"
        ports = ["http"]
        args  = ["-g", "daemon off;"]
        labels = {
          app = "web"
        }
      }

      env = {
        PORT     = "${NOMAD_PORT_http}"
        DC       = "${node.datacenter}"
        LOG_JSON = "true"
      }

      meta {
        owner = "web-team"
      }

      resources {
        cpu        = 250
        memory     = 128
        memory_max = 256

        device "nvidia/gpu" {
          count = 2

          constraint {
            attribute = "${device.attr.memory}"
            operator  = ">="
            value     = "2 GiB"
          }

          affinity {
            attribute = "${device.model}"
            value     = "Tesla K80"
            weight    = 50
          }
        }
      }

      artifact {
        source      = "https://example.com/app.tar.gz"
        destination = "local/app"
        mode        = "dir"

        options {
          checksum = "sha256:abcd"
        }

        headers {
          User-Agent = "orch"
        }
      }

      artifact {
        source = "https://example.com/config.json"
        mode   = "file"
      }

      template {
        data          = <<-EOT
          listen {{ env "NOMAD_PORT_http" }};
          EOT
        destination   = "local/nginx.conf"
        change_mode   = "signal"
        change_signal = "sighup"
        splay         = "10s"
        perms         = "0600"
        uid           = 1000
        gid           = 1000
      }

      template {
        source      = "local/env.tpl"
        destination = "secrets/file.env"
        env         = true
        left_delimiter  = "[["
        right_delimiter = "]]"
        error_on_missing_key = true
      }

      logs {
        max_files     = 4
        max_file_size = 20
      }

      volume_mount {
        volume      = "data"
        destination = "/data"
        read_only   = true
      }

      restart {
        attempts = 1
      }

      constraint {
        attribute = "${attr.driver.docker}"
        value     = "1"
      }

      affinity {
        attribute = "${node.class}"
        value     = "fast"
        weight    = 10
      }

      service {
        name = "server-metrics"
        port = 9102
      }
    }

    task "log-shipper" {
      driver = "raw_exec"

      lifecycle {
        hook    = "poststart"
        sidecar = true
      }

      config {
        command = "/usr/bin/tail"
        args    = ["-F", "${NOMAD_ALLOC_DIR}/logs/server.stdout.0"]
      }

      shutdown_delay = "2s"

      logs {
        disabled = true
      }
    }
  }

  group "worker" {
    count                 = 0
    max_client_disconnect = "30m"

    task "work" {
      driver = "exec"

      config {
        command = "/bin/worker"
      }

      resources {
        cores  = 2
        memory = 512
      }
    }
  }
}
