variable "region" {
  description = "AWS region (ap-south-1, Mumbai, is the closest to Bangladesh)."
  type        = string
  default     = "ap-south-1"
}

variable "environment" {
  description = "Environment name, part of every resource name (prod, staging)."
  type        = string
  default     = "prod"
}

variable "vpc_cidr" {
  description = "CIDR of the VPC. k8s/overlays/prod/network-policies.yaml allows egress to it."
  type        = string
  default     = "10.40.0.0/16"
}

variable "azs" {
  description = "Availability zones used (subnets, nodes, store replicas); three for the Multi-AZ stores. Set them with the region."
  type        = list(string)
  default     = ["ap-south-1a", "ap-south-1b", "ap-south-1c"]

  validation {
    condition     = length(var.azs) >= 2
    error_message = "Multi-AZ RDS, ElastiCache failover and the RabbitMQ cluster need at least two zones."
  }
}

variable "single_nat_gateway" {
  description = "One NAT gateway instead of one per zone (cheaper, not zone-redundant)."
  type        = bool
  default     = false
}

variable "log_retention_days" {
  description = "Retention of VPC flow logs, EKS control-plane logs and store logs."
  type        = number
  default     = 365
}

variable "kubernetes_version" {
  description = "EKS Kubernetes version."
  type        = string
  default     = "1.33"
}

variable "eks_public_access_cidrs" {
  description = "CIDRs allowed to reach the EKS public API endpoint (operators, CD runners). Empty: private endpoint only."
  type        = list(string)
  default     = []

  validation {
    condition     = !contains(var.eks_public_access_cidrs, "0.0.0.0/0")
    error_message = "The EKS API must not be open to the whole internet; list the operators' and runners' ranges."
  }
}

variable "node_instance_types" {
  description = "EC2 instance types of the EKS managed node group."
  type        = list(string)
  default     = ["c6i.2xlarge"]
}

variable "node_min_size" {
  description = "Minimum EKS nodes."
  type        = number
  default     = 3
}

variable "node_desired_size" {
  description = "EKS nodes at creation."
  type        = number
  default     = 6
}

variable "node_max_size" {
  description = "Maximum EKS nodes."
  type        = number
  default     = 30
}

variable "postgres_version" {
  description = "RDS PostgreSQL engine version."
  type        = string
  default     = "16.6"
}

variable "postgres_instance_class" {
  description = "RDS instance class."
  type        = string
  default     = "db.r6g.xlarge"
}

variable "postgres_storage_gb" {
  description = "RDS allocated storage in GiB."
  type        = number
  default     = 200
}

variable "postgres_multi_az" {
  description = "RDS Multi-AZ standby (true in prod)."
  type        = bool
  default     = true
}

variable "deletion_protection" {
  description = "Protect the database from deletion and keep a final snapshot."
  type        = bool
  default     = true
}

variable "redis_engine_version" {
  description = "ElastiCache Redis engine version."
  type        = string
  default     = "7.1"
}

variable "redis_node_type" {
  description = "ElastiCache node type."
  type        = string
  default     = "cache.r7g.large"
}

variable "redis_shards" {
  description = "Shards of the Redis cluster."
  type        = number
  default     = 3
}

variable "redis_replicas_per_shard" {
  description = "Replicas per Redis shard."
  type        = number
  default     = 1
}

variable "rabbitmq_engine_version" {
  description = "Amazon MQ RabbitMQ engine version."
  type        = string
  default     = "3.13"
}

variable "rabbitmq_instance_type" {
  description = "Amazon MQ broker instance type."
  type        = string
  default     = "mq.m5.large"
}

variable "rabbitmq_cluster" {
  description = "Three-node RabbitMQ cluster across zones (true in prod)."
  type        = bool
  default     = true
}

variable "images" {
  description = "Images of the platform, one ECR repository each (railrush/<image>)."
  type        = list(string)
  default = [
    "auth-service",
    "train-service",
    "booking-service",
    "payment-service",
    "notification-service",
    "gateway",
  ]
}

variable "github_repository" {
  description = "GitHub repository (owner/name) whose main-branch workflows may push images and deploy."
  type        = string
  default     = "railrush/railrush"
}

variable "tags" {
  description = "Extra tags on every resource."
  type        = map(string)
  default     = {}
}
