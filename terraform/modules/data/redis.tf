# ElastiCache Redis in cluster mode: var.redis_shards shards with replicas in other zones,
# automatic failover, encrypted at rest (customer key) and in transit, AUTH token kept in
# Secrets Manager. Seat keys carry the trip as a hash tag ({trip_id}) so each trip's
# seats stay on one shard and the hold script stays valid.

resource "aws_security_group" "redis" {
  name        = "${var.name}-redis"
  description = "Redis clients of ${var.name}"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name}-redis" })
}

resource "aws_vpc_security_group_ingress_rule" "redis" {
  for_each                     = toset(var.client_security_group_ids)
  security_group_id            = aws_security_group.redis.id
  description                  = "Redis from the EKS nodes"
  referenced_security_group_id = each.value
  ip_protocol                  = "tcp"
  from_port                    = 6379
  to_port                      = 6379
}

resource "aws_elasticache_subnet_group" "redis" {
  name       = "${var.name}-redis"
  subnet_ids = var.subnet_ids
  tags       = var.tags
}

resource "aws_elasticache_parameter_group" "redis" {
  name        = "${var.name}-redis7-cluster"
  family      = "redis7"
  description = "RailRush Redis cluster mode; nothing may be evicted (holds and booked markers)"

  parameter {
    name  = "cluster-enabled"
    value = "yes"
  }
  parameter {
    name  = "maxmemory-policy"
    value = "noeviction"
  }

  tags = var.tags
}

resource "random_password" "redis_auth" {
  length  = 48
  special = false
}

resource "aws_cloudwatch_log_group" "redis" {
  name              = "/aws/elasticache/${var.name}/slow-log"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.logs_kms_key_arn
  tags              = var.tags
}

resource "aws_elasticache_replication_group" "redis" {
  replication_group_id = var.name
  description          = "RailRush holds, OTPs, counters and caches"
  engine               = "redis"
  engine_version       = var.redis_engine_version
  node_type            = var.redis_node_type
  port                 = 6379
  parameter_group_name = aws_elasticache_parameter_group.redis.name

  num_node_groups         = var.redis_shards
  replicas_per_node_group = var.redis_replicas_per_shard

  automatic_failover_enabled = true
  multi_az_enabled           = true
  subnet_group_name          = aws_elasticache_subnet_group.redis.name
  security_group_ids         = [aws_security_group.redis.id]

  at_rest_encryption_enabled = true
  kms_key_id                 = var.kms_key_arn
  transit_encryption_enabled = true
  auth_token                 = random_password.redis_auth.result

  auto_minor_version_upgrade = true
  snapshot_retention_limit   = 7
  maintenance_window         = "sun:20:00-sun:21:00"
  snapshot_window            = "18:00-19:00"

  log_delivery_configuration {
    destination      = aws_cloudwatch_log_group.redis.name
    destination_type = "cloudwatch-logs"
    log_format       = "json"
    log_type         = "slow-log"
  }

  tags = var.tags
}
