// The Segment Ecommerce Spec v2 events and properties that Tagflow's cart helpers and the GA4 bridge emit.

/** A product as the Segment Ecommerce Spec v2 names its fields. */
export interface Product {
  product_id?: string;
  sku?: string;
  name?: string;
  category?: string;
  brand?: string;
  variant?: string;
  price?: number;
  quantity?: number;
  coupon?: string;
  currency?: string;
  position?: number;
  url?: string;
  image_url?: string;
}

/** Order-level properties (Checkout Started, Order Completed, Order Refunded). */
export interface Order {
  order_id?: string;
  checkout_id?: string;
  cart_id?: string;
  affiliation?: string;
  subtotal?: number;
  total?: number;
  revenue?: number;
  shipping?: number;
  tax?: number;
  discount?: number;
  coupon?: string;
  currency?: string;
  products?: Product[];
}

/** Each supported event and its properties. */
export interface EcommerceEvents {
  'Product Viewed': Product;
  'Product List Viewed': { list_id?: string; category?: string; products: Product[] };
  'Product Added': Product & { cart_id?: string };
  'Product Removed': Product & { cart_id?: string };
  'Cart Viewed': { cart_id?: string; products?: Product[] };
  'Checkout Started': Order;
  'Checkout Step Completed': { checkout_id?: string; step: number; shipping_method?: string; payment_method?: string };
  'Payment Info Entered': { checkout_id?: string; order_id?: string; step?: number; payment_method?: string };
  'Coupon Applied': { order_id?: string; cart_id?: string; coupon_id?: string; coupon_name?: string; discount?: number };
  'Order Completed': Order;
  'Order Refunded': Order;
}

export type EcommerceEvent = keyof EcommerceEvents;
