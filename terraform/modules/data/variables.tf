variable "name" {
  description = "Name prefix of every resource."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the stores."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets, one per zone."
  type        = list(string)
}

variable "client_security_group_ids" {
  description = "Security groups allowed to connect (the EKS nodes)."
  type        = list(string)
}

variable "kms_key_arn" {
  description = "KMS key for storage, snapshots, Performance Insights and the generated secrets."
  type        = string
}

variable "logs_kms_key_arn" {
  description = "KMS key of the stores' log groups."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of the stores' logs."
  type        = number
  default     = 365
}

# PostgreSQL (RDS)
variable "postgres_version" {
  description = "RDS PostgreSQL engine version (major.minor)."
  type        = string
}

variable "postgres_instance_class" {
  description = "RDS instance class."
  type        = string
}

variable "postgres_storage_gb" {
  description = "Allocated storage; autoscaling may grow it to four times this."
  type        = number
}

variable "postgres_multi_az" {
  description = "Standby replica in a second zone with automatic failover."
  type        = bool
}

variable "postgres_backup_retention_days" {
  description = "Days of automated backups (point-in-time recovery window)."
  type        = number
  default     = 14
}

variable "deletion_protection" {
  description = "Refuse to delete the database and keep a final snapshot."
  type        = bool
  default     = true
}

# Redis (ElastiCache, cluster mode)
variable "redis_engine_version" {
  description = "ElastiCache Redis engine version."
  type        = string
}

variable "redis_node_type" {
  description = "ElastiCache node type."
  type        = string
}

variable "redis_shards" {
  description = "Node groups (shards) of the Redis cluster."
  type        = number
}

variable "redis_replicas_per_shard" {
  description = "Replicas per shard (at least 1 for automatic failover)."
  type        = number
}

# RabbitMQ (Amazon MQ)
variable "rabbitmq_engine_version" {
  description = "Amazon MQ RabbitMQ engine version."
  type        = string
}

variable "rabbitmq_instance_type" {
  description = "Broker instance type (cluster deployments need mq.m5.large or larger)."
  type        = string
}

variable "rabbitmq_cluster" {
  description = "CLUSTER_MULTI_AZ (three nodes across zones) instead of SINGLE_INSTANCE."
  type        = bool
}

variable "tags" {
  description = "Tags on every resource."
  type        = map(string)
  default     = {}
}
