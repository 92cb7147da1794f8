-- A CloudPod's plan: the SKU of the product it was made from (the
-- contract's `template`); `template` keeps the operating system image.
ALTER TABLE cloudpods ADD COLUMN plan TEXT;
UPDATE cloudpods SET plan = (SELECT sku FROM products WHERE products.id = cloudpods.product_id);
