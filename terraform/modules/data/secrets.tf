# Generated credentials, for the operator who writes the Kubernetes Secrets
# (docs/deployment.md). The PostgreSQL master password is RDS-managed (see postgres.tf).

resource "aws_secretsmanager_secret" "redis_auth" {
  #checkov:skip=CKV2_AWS_57:No AWS rotation function exists for an ElastiCache AUTH token; rotation is `terraform apply -replace=module.data.random_password.redis_auth` then updating the Kubernetes Secrets (docs/deployment.md).
  name_prefix = "${var.name}/redis-auth-"
  description = "AUTH token of the ${var.name} ElastiCache Redis cluster"
  kms_key_id  = var.kms_key_arn
  tags        = var.tags
}

resource "aws_secretsmanager_secret_version" "redis_auth" {
  secret_id     = aws_secretsmanager_secret.redis_auth.id
  secret_string = random_password.redis_auth.result
}

resource "aws_secretsmanager_secret" "rabbitmq" {
  #checkov:skip=CKV2_AWS_57:No AWS rotation function exists for Amazon MQ RabbitMQ users; rotation is `terraform apply -replace=module.data.random_password.rabbitmq` then updating the Kubernetes Secrets (docs/deployment.md).
  name_prefix = "${var.name}/rabbitmq-"
  description = "Broker user of the ${var.name} Amazon MQ RabbitMQ cluster"
  kms_key_id  = var.kms_key_arn
  tags        = var.tags
}

resource "aws_secretsmanager_secret_version" "rabbitmq" {
  secret_id = aws_secretsmanager_secret.rabbitmq.id
  secret_string = jsonencode({
    username = "railrush"
    password = random_password.rabbitmq.result
  })
}
