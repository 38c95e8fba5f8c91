"""The game's categories: Quick, Draw! classes suited to children of 3 to 8, with Korean names.

Left out of every category: weapons and things that hurt (rifle, sword, cannon, axe, knife, syringe,
skull), alcohol and fire starters (wine bottle, wine glass, lighter, matches), and classes a young
child cannot draw or would not know (animal migration, camouflage, The Great Wall of China,
spreadsheet, ...). Within a category the labels are chosen so the model can tell them apart:
candidates are trimmed with the per-category confusion matrices (see the model card).

`CANDIDATES` lists every category's candidate labels (label, Korean name); `ACTIVE` is the subset
shipped after measuring (written by training into models/categories.json).
"""
from __future__ import annotations

DATASET_CREDIT = (
    "Quick, Draw! dataset, Google, CC BY 4.0 (https://github.com/googlecreativelab/quickdraw-dataset)"
)

# code, Korean name, English name, candidate (label, Korean name) pairs
CANDIDATES: list[tuple[str, str, str, list[tuple[str, str]]]] = [
    ("animals", "동물", "Animals", [
        ("cat", "고양이"), ("dog", "강아지"), ("rabbit", "토끼"), ("pig", "돼지"), ("cow", "소"),
        ("horse", "말"), ("sheep", "양"), ("elephant", "코끼리"), ("lion", "사자"), ("tiger", "호랑이"),
        ("giraffe", "기린"), ("monkey", "원숭이"), ("bear", "곰"), ("panda", "판다"), ("zebra", "얼룩말"),
        ("kangaroo", "캥거루"), ("camel", "낙타"), ("mouse", "생쥐"), ("squirrel", "다람쥐"),
        ("hedgehog", "고슴도치"), ("raccoon", "너구리"), ("rhinoceros", "코뿔소"),
    ]),
    ("sea", "바다 친구들", "Sea creatures", [
        ("fish", "물고기"), ("whale", "고래"), ("dolphin", "돌고래"), ("shark", "상어"),
        ("octopus", "문어"), ("crab", "게"), ("lobster", "바닷가재"), ("sea turtle", "바다거북"),
        ("penguin", "펭귄"), ("mermaid", "인어공주"), ("crocodile", "악어"), ("frog", "개구리"),
        ("duck", "오리"), ("swan", "백조"), ("snail", "달팽이"), ("sailboat", "돛단배"),
        ("submarine", "잠수함"), ("ocean", "바다"), ("pond", "연못"), ("beach", "바닷가"),
    ]),
    ("birds_bugs", "새와 곤충, 작은 동물", "Birds, bugs and small animals", [
        ("bird", "새"), ("owl", "부엉이"), ("parrot", "앵무새"), ("flamingo", "홍학"),
        ("swan", "백조"), ("duck", "오리"), ("penguin", "펭귄"), ("butterfly", "나비"), ("bee", "꿀벌"),
        ("ant", "개미"), ("spider", "거미"), ("snail", "달팽이"), ("mosquito", "모기"), ("bat", "박쥐"),
        ("frog", "개구리"), ("snake", "뱀"), ("feather", "깃털"), ("hedgehog", "고슴도치"),
        ("dragon", "용"),
    ]),
    ("fruit_veg", "과일과 채소", "Fruit and vegetables", [
        ("apple", "사과"), ("banana", "바나나"), ("grapes", "포도"), ("strawberry", "딸기"),
        ("pear", "배"), ("pineapple", "파인애플"), ("watermelon", "수박"), ("blueberry", "블루베리"),
        ("blackberry", "블랙베리"), ("carrot", "당근"), ("broccoli", "브로콜리"), ("potato", "감자"),
        ("onion", "양파"), ("mushroom", "버섯"), ("peas", "완두콩"), ("string bean", "깍지콩"),
        ("asparagus", "아스파라거스"), ("peanut", "땅콩"), ("leaf", "나뭇잎"), ("tree", "나무"),
    ]),
    ("food", "맛있는 음식", "Food and treats", [
        ("ice cream", "아이스크림"), ("cake", "케이크"), ("birthday cake", "생일 케이크"),
        ("cookie", "쿠키"), ("donut", "도넛"), ("pizza", "피자"), ("hamburger", "햄버거"),
        ("hot dog", "핫도그"), ("lollipop", "막대사탕"), ("popsicle", "막대 아이스크림"),
        ("bread", "빵"), ("sandwich", "샌드위치"), ("steak", "스테이크"), ("cup", "컵"),
        ("mug", "머그컵"), ("teapot", "주전자"), ("frying pan", "프라이팬"), ("fork", "포크"),
        ("spoon", "숟가락"), ("apple", "사과"), ("banana", "바나나"), ("carrot", "당근"),
    ]),
    ("vehicles", "탈것", "Vehicles", [
        ("car", "자동차"), ("bus", "버스"), ("school bus", "스쿨버스"), ("train", "기차"),
        ("airplane", "비행기"), ("helicopter", "헬리콥터"), ("bicycle", "자전거"),
        ("motorbike", "오토바이"), ("truck", "트럭"), ("firetruck", "소방차"), ("police car", "경찰차"),
        ("ambulance", "구급차"), ("tractor", "트랙터"), ("bulldozer", "불도저"),
        ("pickup truck", "픽업트럭"), ("van", "승합차"), ("sailboat", "돛단배"),
        ("speedboat", "모터보트"), ("submarine", "잠수함"), ("hot air balloon", "열기구"),
        ("canoe", "카누"), ("cruise ship", "유람선"), ("flying saucer", "비행접시"),
        ("skateboard", "스케이트보드"),
    ]),
    ("home", "우리 집", "At home", [
        ("bed", "침대"), ("chair", "의자"), ("table", "탁자"), ("couch", "소파"), ("door", "문"),
        ("television", "텔레비전"), ("floor lamp", "스탠드"), ("clock", "시계"),
        ("alarm clock", "알람 시계"), ("telephone", "전화기"), ("pillow", "베개"),
        ("bathtub", "욕조"), ("toilet", "변기"), ("sink", "세면대"), ("toothbrush", "칫솔"),
        ("toothpaste", "치약"), ("key", "열쇠"), ("light bulb", "전구"), ("fan", "선풍기"),
        ("vase", "꽃병"), ("picture frame", "액자"), ("house plant", "화분"), ("candle", "양초"),
    ]),
    ("clothes", "옷과 소품", "Clothes and accessories", [
        ("t-shirt", "티셔츠"), ("pants", "바지"), ("shorts", "반바지"), ("sock", "양말"),
        ("shoe", "신발"), ("hat", "모자"), ("sweater", "스웨터"), ("jacket", "점퍼"),
        ("underwear", "속옷"), ("flip flops", "슬리퍼"), ("eyeglasses", "안경"), ("crown", "왕관"),
        ("bowtie", "나비넥타이"), ("necklace", "목걸이"), ("backpack", "가방"),
        ("umbrella", "우산"), ("purse", "핸드백"), ("helmet", "헬멧"),
        ("rollerskates", "롤러스케이트"), ("wristwatch", "손목시계"), ("bracelet", "팔찌"),
        ("diamond", "보석"),
    ]),
    ("nature", "자연과 날씨", "Nature and weather", [
        ("sun", "해"), ("moon", "달"), ("star", "별"), ("cloud", "구름"), ("rainbow", "무지개"),
        ("rain", "비"), ("lightning", "번개"), ("snowflake", "눈송이"), ("snowman", "눈사람"),
        ("tree", "나무"), ("flower", "꽃"), ("leaf", "나뭇잎"), ("mountain", "산"),
        ("ocean", "바다"), ("river", "강"), ("grass", "풀"), ("cactus", "선인장"),
        ("palm tree", "야자나무"), ("tornado", "회오리바람"), ("bush", "덤불"), ("campfire", "모닥불"),
        ("hurricane", "태풍"),
    ]),
    ("body", "몸과 얼굴", "Body and face", [
        ("eye", "눈"), ("ear", "귀"), ("nose", "코"), ("mouth", "입"), ("hand", "손"),
        ("foot", "발"), ("leg", "다리"), ("arm", "팔"), ("finger", "손가락"), ("tooth", "이"),
        ("face", "얼굴"), ("smiley face", "웃는 얼굴"), ("moustache", "콧수염"), ("beard", "턱수염"),
        ("knee", "무릎"), ("toe", "발가락"), ("elbow", "팔꿈치"), ("brain", "뇌"),
        ("goatee", "염소수염"), ("bandage", "반창고"),
    ]),
    ("shapes", "모양", "Shapes and lines", [
        ("circle", "동그라미"), ("square", "네모"), ("triangle", "세모"), ("hexagon", "육각형"),
        ("octagon", "팔각형"), ("star", "별"), ("diamond", "마름모"), ("line", "선"),
        ("zigzag", "지그재그"), ("squiggle", "꼬불꼬불 선"), ("stairs", "계단"), ("moon", "달"),
        ("lightning", "번개"), ("rainbow", "무지개"), ("smiley face", "웃는 얼굴"), ("cloud", "구름"),
        ("snowflake", "눈송이"), ("hourglass", "모래시계"), ("envelope", "편지봉투"), ("stop sign", "정지 표지판"),
    ]),
    ("music_play", "음악과 놀이", "Music and play", [
        ("guitar", "기타"), ("piano", "피아노"), ("drums", "북"), ("violin", "바이올린"),
        ("trumpet", "트럼펫"), ("saxophone", "색소폰"), ("harp", "하프"), ("microphone", "마이크"),
        ("headphones", "헤드폰"), ("soccer ball", "축구공"), ("basketball", "농구공"),
        ("baseball", "야구공"), ("teddy-bear", "곰 인형"), ("swing set", "그네"), ("see saw", "시소"),
        ("skateboard", "스케이트보드"), ("roller coaster", "롤러코스터"), ("hot air balloon", "열기구"),
        ("tent", "텐트"), ("radio", "라디오"), ("camera", "카메라"), ("parachute", "낙하산"),
    ]),
    ("school", "학교와 문구", "School things", [
        ("pencil", "연필"), ("crayon", "크레파스"), ("eraser", "지우개"), ("scissors", "가위"),
        ("book", "책"), ("backpack", "책가방"), ("calculator", "계산기"), ("paper clip", "클립"),
        ("marker", "사인펜"), ("paintbrush", "붓"), ("envelope", "편지봉투"), ("calendar", "달력"),
        ("computer", "컴퓨터"), ("laptop", "노트북"), ("clock", "시계"), ("map", "지도"),
        ("cell phone", "휴대폰"), ("keyboard", "키보드"), ("postcard", "엽서"), ("bucket", "양동이"),
        ("light bulb", "전구"), ("compass", "나침반"),
    ]),
    ("town", "우리 동네", "Buildings and town", [
        ("house", "집"), ("castle", "성"), ("church", "교회"), ("hospital", "병원"), ("barn", "헛간"),
        ("lighthouse", "등대"), ("windmill", "풍차"), ("tent", "텐트"), ("bridge", "다리"),
        ("skyscraper", "고층 빌딩"), ("The Eiffel Tower", "에펠탑"), ("fence", "울타리"),
        ("ladder", "사다리"), ("stairs", "계단"), ("mailbox", "우체통"), ("traffic light", "신호등"),
        ("stop sign", "정지 표지판"), ("fire hydrant", "소화전"), ("streetlight", "가로등"),
        ("bench", "벤치"), ("garden", "정원"), ("pool", "수영장"),
    ]),
    ("kitchen_tools", "부엌과 도구", "Kitchen and tools", [
        ("cup", "컵"), ("mug", "머그컵"), ("teapot", "주전자"), ("frying pan", "프라이팬"),
        ("fork", "포크"), ("spoon", "숟가락"), ("oven", "오븐"), ("microwave", "전자레인지"),
        ("toaster", "토스터"), ("stove", "가스레인지"), ("washing machine", "세탁기"),
        ("hammer", "망치"), ("saw", "톱"), ("screwdriver", "드라이버"), ("shovel", "삽"),
        ("rake", "갈퀴"), ("broom", "빗자루"), ("paint can", "페인트 통"), ("flashlight", "손전등"),
        ("bucket", "양동이"), ("pliers", "펜치"), ("nail", "못"),
    ]),
]

#: Labels never shipped to children.
EXCLUDED = frozenset({
    "rifle", "sword", "cannon", "axe", "knife", "syringe", "skull", "wine bottle", "wine glass",
    "lighter", "matches", "animal migration", "camouflage", "The Great Wall of China",
    "spreadsheet", "yoga",
})

V0_CATEGORIES = ("animals", "fruit_veg", "vehicles")


def all_candidate_labels(codes: tuple[str, ...] | None = None) -> list[str]:
    """The union of the candidate labels of these categories (all when None), first-seen order."""
    seen: dict[str, None] = {}
    for code, _, _, topics in CANDIDATES:
        if codes is None or code in codes:
            for label, _ in topics:
                seen.setdefault(label, None)
    return list(seen)
