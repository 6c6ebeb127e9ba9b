output "postgres_endpoint" {
  description = "Hostname of the RDS PostgreSQL instance."
  value       = aws_db_instance.postgres.address
}

output "postgres_master_secret_arn" {
  description = "Secrets Manager secret of the RDS master user (managed by RDS)."
  value       = aws_db_instance.postgres.master_user_secret[0].secret_arn
}

output "redis_configuration_endpoint" {
  description = "Cluster-mode configuration endpoint of ElastiCache Redis (TLS, port 6379)."
  value       = aws_elasticache_replication_group.redis.configuration_endpoint_address
}

output "redis_auth_secret_arn" {
  description = "Secrets Manager secret holding the Redis AUTH token."
  value       = aws_secretsmanager_secret.redis_auth.arn
}

output "rabbitmq_amqps_endpoint" {
  description = "AMQPS endpoint of the Amazon MQ RabbitMQ broker."
  value       = aws_mq_broker.rabbitmq.instances[0].endpoints[0]
}

output "rabbitmq_secret_arn" {
  description = "Secrets Manager secret holding the broker user."
  value       = aws_secretsmanager_secret.rabbitmq.arn
}
