# Two customer-managed keys, rotated yearly: `data` (EKS Secrets, node volumes, RDS,
# ElastiCache, Secrets Manager, ECR) and `logs` (CloudWatch log groups, whose service
# principal must be allowed in the key policy).

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

# In a key policy, Resource "*" means "this key"; the principals are what is constrained.
data "aws_iam_policy_document" "data_key" {
  #checkov:skip=CKV_AWS_111:Key policy: Resource "*" is the key itself; access is limited to the account and the Auto Scaling service role.
  #checkov:skip=CKV_AWS_356:Key policy: Resource "*" is the key itself, not every resource.
  #checkov:skip=CKV_AWS_109:Key policy: the account root statement is the standard administration grant that IAM policies then narrow.
  statement {
    sid       = "AccountAdministration"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }

  # EC2 Auto Scaling launches the EKS nodes with encrypted volumes under its service role.
  statement {
    sid = "AutoScalingVolumes"
    actions = [
      "kms:Encrypt",
      "kms:Decrypt",
      "kms:ReEncrypt*",
      "kms:GenerateDataKey*",
      "kms:DescribeKey",
      "kms:CreateGrant",
    ]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"]
    }
  }
}

resource "aws_kms_key" "data" {
  description             = "${local.name} data at rest"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.data_key.json
}

resource "aws_kms_alias" "data" {
  name          = "alias/${local.name}-data"
  target_key_id = aws_kms_key.data.key_id
}

data "aws_iam_policy_document" "logs_key" {
  #checkov:skip=CKV_AWS_111:Key policy: Resource "*" is the key itself; the logs service is limited to this account's log groups by condition.
  #checkov:skip=CKV_AWS_356:Key policy: Resource "*" is the key itself, not every resource.
  #checkov:skip=CKV_AWS_109:Key policy: the account root statement is the standard administration grant that IAM policies then narrow.
  statement {
    sid       = "AccountAdministration"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }

  statement {
    sid = "CloudWatchLogs"
    actions = [
      "kms:Encrypt*",
      "kms:Decrypt*",
      "kms:ReEncrypt*",
      "kms:GenerateDataKey*",
      "kms:Describe*",
    ]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${var.region}.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${data.aws_partition.current.partition}:logs:${var.region}:${data.aws_caller_identity.current.account_id}:log-group:*"]
    }
  }
}

resource "aws_kms_key" "logs" {
  description             = "${local.name} CloudWatch logs"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.logs_key.json
}

resource "aws_kms_alias" "logs" {
  name          = "alias/${local.name}-logs"
  target_key_id = aws_kms_key.logs.key_id
}
