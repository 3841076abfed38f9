variable "datacenters" {
  type    = list(string)
  default = ["dc1"]
}

variable "replicas" {
  type    = number
  default = 2

  validation {
    condition     = var.replicas > 0 && var.replicas < 10
    error_message = "Replicas must be between 1 and 9."
  }
}

variable "ports" {
  type = map(number)
  default = {
    http = 8080
    grpc = 9090
  }
}

variable "settings" {
  type = object({
    name  = string
    debug = optional(bool, false)
  })
  default = {
    name = "svc"
  }
  sensitive = false
}

locals {
  full_name = "${local.prefix}-${var.settings.name}"
  prefix    = upper("app")
  labels    = merge({ a = "1" }, { b = "2" })
  safe      = try(var.settings.missing, "fallback")
  can_parse = can(tonumber("x"))
}

job "lang" {
  datacenters = var.datacenters

  meta {
    full_name = local.full_name
    labels    = jsonencode(local.labels)
    safe      = local.safe
    can_parse = tostring(local.can_parse)
    joined    = join(",", [for k, v in var.ports : "${k}=${v}"])
    encoded   = base64encode("hi")
    date      = formatdate("YYYY", "2024-05-01T00:00:00Z")
    hash      = sha256("x")
    debug     = tostring(var.settings.debug)
    escaped   = "$${NOT_INTERPOLATED}"
    upper_rt  = "${upper("x")}-${attr.unique.hostname}"
    index_rt  = "${meta["rack"]}"
  }

  group "g" {
    count = var.replicas

    network {
      dynamic "port" {
        for_each = var.ports
        labels   = [port.key]

        content {
          to = port.value
        }
      }
    }

    task "t" {
      driver = "raw_exec"

      config {
        command = "/bin/sh"
        args = ["-c", <<EOT
echo "${local.full_name}"
echo "$${HOME}"
EOT
        ]
      }

      dynamic "template" {
        for_each = ["a", "b"]

        content {
          data        = "value ${template.value}"
          destination = "local/${template.value}.txt"
        }
      }

      env {
        COUNT = "${var.replicas}"
      }
    }
  }
}
