"""The only Streamlit-aware helpers: state accessors, cache wrappers, forms and chart renderers."""
