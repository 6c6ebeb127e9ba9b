variable "name" {
  description = "Name prefix of every resource."
  type        = string
}

variable "cidr" {
  description = "CIDR block of the VPC."
  type        = string
}

variable "azs" {
  description = "Availability zones, one public and one private subnet in each."
  type        = list(string)
}

variable "single_nat_gateway" {
  description = "One NAT gateway for all zones (cheaper, not zone-redundant) instead of one per zone."
  type        = bool
  default     = false
}

variable "kms_key_arn" {
  description = "KMS key that encrypts the flow-log log group."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of the VPC flow logs."
  type        = number
  default     = 365
}

variable "cluster_name" {
  description = "EKS cluster name, tagged on the subnets for load-balancer discovery."
  type        = string
}

variable "tags" {
  description = "Tags on every resource."
  type        = map(string)
  default     = {}
}
