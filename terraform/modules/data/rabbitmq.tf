# Amazon MQ for RabbitMQ: a three-node cluster across zones (CLUSTER_MULTI_AZ) in the private
# subnets, reachable over AMQPS (5671) from the EKS nodes only. The services declare the
# `railrush.events` exchange and their quorum queues themselves, replicated over the three
# nodes. The broker user's password is kept in Secrets Manager.

resource "aws_security_group" "rabbitmq" {
  name        = "${var.name}-rabbitmq"
  description = "RabbitMQ (AMQPS) clients of ${var.name}"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name}-rabbitmq" })
}

resource "aws_vpc_security_group_ingress_rule" "rabbitmq" {
  for_each                     = toset(var.client_security_group_ids)
  security_group_id            = aws_security_group.rabbitmq.id
  description                  = "AMQPS from the EKS nodes"
  referenced_security_group_id = each.value
  ip_protocol                  = "tcp"
  from_port                    = 5671
  to_port                      = 5671
}

resource "random_password" "rabbitmq" {
  length  = 40
  special = false
}

resource "aws_mq_broker" "rabbitmq" {
  #checkov:skip=CKV_AWS_209:Amazon MQ supports customer-managed KMS keys for ActiveMQ only; RabbitMQ brokers are encrypted at rest with an AWS-owned key.
  broker_name        = var.name
  engine_type        = "RabbitMQ"
  engine_version     = var.rabbitmq_engine_version
  host_instance_type = var.rabbitmq_instance_type
  deployment_mode    = var.rabbitmq_cluster ? "CLUSTER_MULTI_AZ" : "SINGLE_INSTANCE"

  publicly_accessible        = false
  subnet_ids                 = var.rabbitmq_cluster ? var.subnet_ids : [var.subnet_ids[0]]
  security_groups            = [aws_security_group.rabbitmq.id]
  auto_minor_version_upgrade = true

  # RabbitMQ brokers encrypt at rest with an AWS-owned key; customer keys are ActiveMQ only.
  encryption_options {
    use_aws_owned_key = true
  }

  logs {
    general = true
  }

  maintenance_window_start_time {
    day_of_week = "SUNDAY"
    time_of_day = "20:00"
    time_zone   = "UTC"
  }

  user {
    username = "railrush"
    password = random_password.rabbitmq.result
  }

  tags = var.tags
}
