# RailRush on AWS: network, EKS, the managed stores and the image registry.
# Usage and the remote state: docs/deployment.md.

provider "aws" {
  region = var.region
  default_tags {
    tags = merge({
      Project     = "railrush"
      Environment = var.environment
      ManagedBy   = "terraform"
    }, var.tags)
  }
}

locals {
  name = "railrush-${var.environment}"
}

module "network" {
  source = "./modules/network"

  name               = local.name
  cidr               = var.vpc_cidr
  azs                = var.azs
  single_nat_gateway = var.single_nat_gateway
  cluster_name       = local.name
  kms_key_arn        = aws_kms_key.logs.arn
  log_retention_days = var.log_retention_days
}

module "eks" {
  source = "./modules/eks"

  name                = local.name
  kubernetes_version  = var.kubernetes_version
  vpc_id              = module.network.vpc_id
  subnet_ids          = module.network.private_subnet_ids
  public_access_cidrs = var.eks_public_access_cidrs
  kms_key_arn         = aws_kms_key.data.arn
  logs_kms_key_arn    = aws_kms_key.logs.arn
  log_retention_days  = var.log_retention_days
  node_instance_types = var.node_instance_types
  node_min_size       = var.node_min_size
  node_desired_size   = var.node_desired_size
  node_max_size       = var.node_max_size
}

module "data" {
  source = "./modules/data"

  name                      = local.name
  vpc_id                    = module.network.vpc_id
  subnet_ids                = module.network.private_subnet_ids
  client_security_group_ids = [module.eks.cluster_security_group_id]
  kms_key_arn               = aws_kms_key.data.arn
  logs_kms_key_arn          = aws_kms_key.logs.arn
  log_retention_days        = var.log_retention_days

  postgres_version        = var.postgres_version
  postgres_instance_class = var.postgres_instance_class
  postgres_storage_gb     = var.postgres_storage_gb
  postgres_multi_az       = var.postgres_multi_az
  deletion_protection     = var.deletion_protection

  redis_engine_version     = var.redis_engine_version
  redis_node_type          = var.redis_node_type
  redis_shards             = var.redis_shards
  redis_replicas_per_shard = var.redis_replicas_per_shard

  rabbitmq_engine_version = var.rabbitmq_engine_version
  rabbitmq_instance_type  = var.rabbitmq_instance_type
  rabbitmq_cluster        = var.rabbitmq_cluster
}

module "ecr" {
  source = "./modules/ecr"

  repositories        = toset([for image in var.images : "railrush/${image}"])
  kms_key_arn         = aws_kms_key.data.arn
  push_principal_arns = [aws_iam_role.deploy.arn]
}
