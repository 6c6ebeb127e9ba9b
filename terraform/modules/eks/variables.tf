variable "name" {
  description = "Name of the EKS cluster."
  type        = string
}

variable "kubernetes_version" {
  description = "Kubernetes minor version of the control plane and nodes."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the cluster."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets for the control-plane interfaces and the nodes."
  type        = list(string)
}

variable "public_access_cidrs" {
  description = "CIDRs allowed to reach the public API endpoint (CI/CD, operators). Empty: private endpoint only."
  type        = list(string)
}

variable "kms_key_arn" {
  description = "KMS key for envelope encryption of Kubernetes Secrets."
  type        = string
}

variable "logs_kms_key_arn" {
  description = "KMS key of the control-plane log group."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of the control-plane logs."
  type        = number
  default     = 365
}

variable "node_instance_types" {
  description = "Instance types of the managed node group."
  type        = list(string)
}

variable "node_min_size" {
  description = "Minimum nodes."
  type        = number
}

variable "node_desired_size" {
  description = "Desired nodes at creation (the cluster autoscaler owns it afterwards)."
  type        = number
}

variable "node_max_size" {
  description = "Maximum nodes."
  type        = number
}

variable "node_disk_size_gb" {
  description = "Root volume size of each node."
  type        = number
  default     = 50
}

variable "tags" {
  description = "Tags on every resource."
  type        = map(string)
  default     = {}
}
