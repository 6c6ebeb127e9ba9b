output "region" {
  description = "AWS region."
  value       = var.region
}

output "vpc_cidr" {
  description = "VPC CIDR (k8s/overlays/prod/network-policies.yaml egress range)."
  value       = module.network.vpc_cidr
}

output "eks_cluster_name" {
  description = "EKS cluster name (aws eks update-kubeconfig --name ...)."
  value       = module.eks.cluster_name
}

output "eks_cluster_endpoint" {
  description = "EKS API server endpoint."
  value       = module.eks.cluster_endpoint
}

output "ecr_registry" {
  description = "ECR registry host."
  value       = module.ecr.registry
}

output "ecr_repository_urls" {
  description = "Repository URL per image."
  value       = module.ecr.repository_urls
}

output "postgres_endpoint" {
  description = "RDS PostgreSQL hostname (POSTGRES_HOST in k8s/overlays/prod/endpoints.env)."
  value       = module.data.postgres_endpoint
}

output "postgres_master_secret_arn" {
  description = "Secrets Manager secret of the RDS master user."
  value       = module.data.postgres_master_secret_arn
}

output "redis_configuration_endpoint" {
  description = "ElastiCache configuration endpoint (REDIS_HOST in endpoints.env)."
  value       = module.data.redis_configuration_endpoint
}

output "redis_auth_secret_arn" {
  description = "Secrets Manager secret of the Redis AUTH token."
  value       = module.data.redis_auth_secret_arn
}

output "rabbitmq_amqps_endpoint" {
  description = "Amazon MQ AMQPS endpoint (its host is RABBITMQ_HOST in endpoints.env)."
  value       = module.data.rabbitmq_amqps_endpoint
}

output "rabbitmq_secret_arn" {
  description = "Secrets Manager secret of the broker user."
  value       = module.data.rabbitmq_secret_arn
}

output "deploy_role_arn" {
  description = "IAM role for the CD workflow (secret AWS_DEPLOY_ROLE_ARN)."
  value       = aws_iam_role.deploy.arn
}
